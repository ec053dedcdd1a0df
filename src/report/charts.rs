//! Charts as PNG bytes and SVG text, drawn with plotters from a [`ChartSpec`]: the same
//! records that go to JSON/CSV, so any chart can be regenerated from the data file.
//!
//! Fonts: DejaVu Sans is embedded (the `dejavu` crate, Bitstream Vera licence, see
//! `THIRD_PARTY_NOTICES.md`) and registered with plotters' `ab_glyph` backend, so no
//! system font library is needed. Logarithmic axes are drawn in log10 space with ticks
//! labelled as powers of ten. A linear y axis over non-negative data starts at zero. The
//! legend goes into the corner of the plot with the fewest data points. A NaN y value
//! breaks a line (a gap, e.g. while the link realigns); [`SeriesStyle::Bands`] shades
//! spans of x; [`render_panels_png`] / [`render_panels_svg`] stack charts over one x axis.
//!
//! Must never depend on clap or touch the file system.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::sync::Once;

/// Pixel size of PNG charts (1600x1000: a full-width figure at 300 dpi is ~5.3 inches).
pub const PNG_SIZE: (u32, u32) = (1600, 1000);
/// Size of SVG charts in CSS pixels.
pub const SVG_SIZE: (u32, u32) = (1600, 1000);

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesStyle {
    /// A line through the points (theory curves, bounds).
    Line,
    /// A dashed line.
    DashedLine,
    /// Markers (simulated points), with error bars when given.
    Points,
    /// A line through the points with a marker on each.
    LinePoints,
    /// Hollow markers on the bottom edge of the plot at each point's x (the y value is
    /// ignored): e.g. simulated points without key on a log axis.
    FloorMarkers,
    /// Shaded spans of x over the whole height of the plot, drawn behind what follows:
    /// each point is (start, end), e.g. the periods a link spent realigning.
    Bands,
    /// Filled bars from the x axis (zero on a linear y axis) up to each point's y, centred
    /// on its x, [`BAR_HALF_WIDTH`] wide on each side: grouped bars over the named
    /// categories of [`ChartSpec::x_ticks`]. Linear axes only.
    Bars,
}

/// Half the width of a [`SeriesStyle::Bars`] bar, in x-axis units (categories one unit
/// apart leave room for two bars side by side).
pub const BAR_HALF_WIDTH: f64 = 0.17;

/// One named data series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Drawing style.
    pub style: SeriesStyle,
    /// (x, y) points; points with non-finite values (or y <= 0 on a log axis) are skipped,
    /// and a NaN y breaks a line there. For [`SeriesStyle::Bands`]: (start, end) in x.
    pub points: Vec<(f64, f64)>,
    /// Optional (low, high) error bar per point, in y units.
    pub error_bars: Option<Vec<(f64, f64)>>,
    /// Colour as an index into [`PALETTE`]; `None`: the series' position in the chart.
    pub color: Option<usize>,
}

/// A chart: title, axis labels with units, axes and series.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    /// Title (include the scenario name).
    pub title: String,
    /// x-axis label with unit.
    pub x_label: String,
    /// y-axis label with unit.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Named x positions (categories, e.g. of a bar chart): when given, the x axis shows
    /// only these labels, at these positions; empty: numeric ticks.
    pub x_ticks: Vec<(f64, String)>,
    /// The series, drawn in order.
    pub series: Vec<Series>,
}

static FONTS: Once = Once::new();

/// Registers the embedded DejaVu Sans as plotters' `sans-serif`, once per process.
pub(crate) fn register_fonts() {
    FONTS.call_once(|| {
        // Registration fails only for a corrupt font file, which the crate ships intact.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// The colours (Okabe-Ito, distinguishable with colour-vision deficiencies): blue,
/// vermillion, bluish green, reddish purple, sky blue, orange, black, grey.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 120),
];

/// Points beyond which a line is drawn 2 pixels wide instead of 4.
const DENSE_LINE: usize = 250;

fn to_axis(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if log {
        if v > 0.0 { Some(v.log10()) } else { None }
    } else {
        Some(v)
    }
}

fn padded(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let d = if log { 0.5 } else { lo.abs().max(1.0) * 0.1 };
        return (lo - d, hi + d);
    }
    let pad = (hi - lo) * 0.04;
    (lo - pad, hi + pad)
}

pub(crate) fn tick_label(v: f64, log: bool) -> String {
    if log {
        let r = v.round();
        if (v - r).abs() < 1e-9 {
            format!("1e{}", r as i64)
        } else {
            format!("{:.1e}", 10f64.powf(v))
        }
    } else {
        let a = v.abs();
        if a != 0.0 && !(1e-3..1e5).contains(&a) {
            format!("{v:.1e}")
        } else {
            format!("{}", (v * 1e6).round() / 1e6)
        }
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, spec: &ChartSpec) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| {
        Error::InvalidArgument(format!("cannot draw chart \"{}\": {e}", spec.title))
    };
    root.fill(&WHITE).map_err(err)?;
    draw_on(&root, spec, None)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The x values of a chart's data, on the axis (log10 for a log axis).
fn x_values(spec: &ChartSpec) -> Vec<f64> {
    let mut xs = Vec::new();
    for s in &spec.series {
        match s.style {
            SeriesStyle::FloorMarkers => {
                xs.extend(s.points.iter().filter_map(|&(x, _)| to_axis(x, spec.x_log)))
            }
            SeriesStyle::Bands => xs.extend(
                s.points
                    .iter()
                    .flat_map(|&(a, b)| [a, b])
                    .filter_map(|x| to_axis(x, spec.x_log)),
            ),
            SeriesStyle::Bars => xs.extend(
                s.points
                    .iter()
                    .flat_map(|&(x, _)| [x - BAR_HALF_WIDTH, x + BAR_HALF_WIDTH])
                    .filter_map(|x| to_axis(x, spec.x_log)),
            ),
            _ => xs.extend(
                s.points
                    .iter()
                    .filter(|&&(_, y)| to_axis(y, spec.y_log).is_some())
                    .filter_map(|&(x, _)| to_axis(x, spec.x_log)),
            ),
        }
    }
    xs
}

/// The runs of a line's points between NaN breaks, on the axes (points not drawable on
/// them, such as y <= 0 on a log axis, left out without a break).
fn line_runs(points: &[(f64, f64)], xl: bool, yl: bool) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for &(x, y) in points {
        if y.is_nan() {
            if runs.last().is_some_and(|r| !r.is_empty()) {
                runs.push(Vec::new());
            }
            continue;
        }
        if let (Some(x), Some(y)) = (to_axis(x, xl), to_axis(y, yl)) {
            runs.last_mut().expect("never empty").push((x, y));
        }
    }
    if runs.len() > 1 && runs.last().is_some_and(|r| r.is_empty()) {
        runs.pop();
    }
    runs
}

/// Draws `spec` into `root` (already filled); `x_range` fixes the x axis (on the axis
/// scale) instead of fitting it to the data, so stacked panels line up.
fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
    x_range: Option<(f64, f64)>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| {
        Error::InvalidArgument(format!("cannot draw chart \"{}\": {e}", spec.title))
    };
    let mut xs = x_values(spec);
    xs.extend(
        spec.x_ticks
            .iter()
            .filter_map(|&(x, _)| to_axis(x, spec.x_log)),
    );
    let mut ys = Vec::new();
    for s in &spec.series {
        if matches!(s.style, SeriesStyle::FloorMarkers | SeriesStyle::Bands) {
            continue;
        }
        for (i, &(x, y)) in s.points.iter().enumerate() {
            if let (Some(_), Some(y)) = (to_axis(x, spec.x_log), to_axis(y, spec.y_log)) {
                ys.push(y);
                if let Some(eb) = &s.error_bars {
                    let (lo, hi) = eb[i];
                    ys.extend(to_axis(lo, spec.y_log));
                    ys.extend(to_axis(hi, spec.y_log));
                }
            }
        }
    }
    let fold = |v: &[f64]| {
        v.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            })
    };
    let (x0, x1) = fold(&xs);
    let (y0, y1) = fold(&ys);
    let (x0, x1) = x_range.unwrap_or_else(|| {
        if spec.x_ticks.is_empty() || spec.x_log {
            padded(x0, x1, spec.x_log)
        } else {
            // Categories one unit apart: half a unit of room beside the outer ones.
            let ticks: Vec<f64> = spec.x_ticks.iter().map(|&(x, _)| x).collect();
            let (lo, hi) = fold(&ticks);
            (lo.min(x0) - 0.5, hi.max(x1) + 0.5)
        }
    });
    let (mut y0, mut y1) = padded(y0, y1, spec.y_log);
    if !spec.y_log && ys.iter().all(|&y| y >= 0.0) && !ys.is_empty() {
        y0 = 0.0;
    }
    let (mut legend_position, counts) = emptiest_corner(spec, (x0, x1), (y0, y1));
    if counts.iter().all(|&c| c > 0) && !spec.y_log && !ys.is_empty() {
        // Data in every corner: raise the top of a linear y axis so the data stay below
        // the legend, which then goes into the upper corner that held fewer points.
        let entries = spec.series.len() as f64;
        let plot_height = (root.dim_in_pixel().1 as f64 - 240.0).max(200.0);
        let legend_share = ((entries * 34.0 + 40.0) / plot_height).min(0.6);
        y1 = y0 + (y1 - y0) / (1.0 - legend_share);
        legend_position = if counts[1] < counts[0] {
            SeriesLabelPosition::UpperLeft
        } else {
            SeriesLabelPosition::UpperRight
        };
    }
    // On a log axis, one label per decade (plotters then picks the integer exponents).
    let labels = |lo: f64, hi: f64, log: bool| {
        if log {
            ((hi.floor() - lo.ceil()) as usize + 1).clamp(3, 12)
        } else {
            10
        }
    };

    let mut builder = ChartBuilder::on(root);
    if !spec.title.is_empty() {
        builder.caption(
            &spec.title,
            ("sans-serif", 44).into_font().style(FontStyle::Bold),
        );
    }
    let mut chart = builder
        .margin(30)
        .x_label_area_size(90)
        .y_label_area_size(150)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let (xl, yl) = (spec.x_log, spec.y_log);
    let ticks = &spec.x_ticks;
    // Named ticks: one label per category; plotters' key points of a range one unit per
    // category land on the whole numbers, and any other tick stays unlabelled.
    let category = |v: f64| {
        ticks
            .iter()
            .find(|(x, _)| (x - v).abs() < 1e-6)
            .map(|(_, name)| name.clone())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_desc(&spec.x_label)
        .y_desc(&spec.y_label)
        .axis_desc_style(("sans-serif", 34))
        .label_style(("sans-serif", 28))
        .x_labels(if ticks.is_empty() {
            labels(x0, x1, xl)
        } else {
            ticks.len()
        })
        .y_labels(labels(y0, y1, yl))
        .x_label_formatter(&|v| {
            if ticks.is_empty() {
                tick_label(*v, xl)
            } else {
                category(*v)
            }
        })
        .y_label_formatter(&|v| tick_label(*v, yl))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(err)?;

    for (i, s) in spec.series.iter().enumerate() {
        let color = PALETTE[s.color.unwrap_or(i) % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|&(x, y)| Some((to_axis(x, xl)?, to_axis(y, yl)?)))
            .collect();
        let legend_color = color;
        let runs = line_runs(&s.points, xl, yl);
        match s.style {
            SeriesStyle::Line => {
                // The first run carries the legend entry; the others follow a break.
                for (j, run) in runs.into_iter().enumerate() {
                    // A dense line (a long time series) is drawn thin: thick joins at its
                    // many sharp turns would stick out as spikes beyond the data.
                    let width = if run.len() > DENSE_LINE { 2 } else { 4 };
                    let drawn = chart
                        .draw_series(LineSeries::new(run, color.stroke_width(width)))
                        .map_err(err)?;
                    if j == 0 {
                        drawn.label(&s.name).legend(move |(x, y)| {
                            PathElement::new(
                                vec![(x, y), (x + 40, y)],
                                legend_color.stroke_width(4),
                            )
                        });
                    }
                }
            }
            SeriesStyle::DashedLine => {
                for (j, run) in runs.into_iter().enumerate() {
                    let drawn = chart
                        .draw_series(DashedLineSeries::new(run, 14, 10, color.stroke_width(4)))
                        .map_err(err)?;
                    if j == 0 {
                        drawn.label(&s.name).legend(move |(x, y)| {
                            let style = legend_color.stroke_width(4);
                            EmptyElement::at((x, y))
                                + PathElement::new(vec![(0, 0), (14, 0)], style)
                                + PathElement::new(vec![(26, 0), (40, 0)], style)
                        });
                    }
                }
            }
            SeriesStyle::Bands => {
                let fill = color.mix(0.22).filled();
                let rects: Vec<_> = s
                    .points
                    .iter()
                    .filter_map(|&(a, b)| {
                        let a = to_axis(a, xl)?.max(x0);
                        let b = to_axis(b, xl)?.min(x1);
                        (b > a).then(|| Rectangle::new([(a, y0), (b, y1)], fill))
                    })
                    .collect();
                chart
                    .draw_series(rects)
                    .map_err(err)?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        Rectangle::new(
                            [(x, y - 12), (x + 40, y + 12)],
                            legend_color.mix(0.22).filled(),
                        )
                    });
            }
            SeriesStyle::Bars => {
                let base = if yl { y0 } else { 0f64.max(y0) };
                let rects: Vec<_> = s
                    .points
                    .iter()
                    .filter_map(|&(x, y)| {
                        let a = to_axis(x - BAR_HALF_WIDTH, xl)?;
                        let b = to_axis(x + BAR_HALF_WIDTH, xl)?;
                        let top = to_axis(y, yl)?;
                        Some(Rectangle::new([(a, base), (b, top)], color.filled()))
                    })
                    .collect();
                chart
                    .draw_series(rects)
                    .map_err(err)?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 12), (x + 40, y + 12)], legend_color.filled())
                    });
            }
            SeriesStyle::LinePoints => {
                for run in runs {
                    chart
                        .draw_series(LineSeries::new(run, color.stroke_width(4)))
                        .map_err(err)?;
                }
                chart
                    .draw_series(pts.into_iter().map(|p| Circle::new(p, 7, color.filled())))
                    .map_err(err)?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(0, 0), (40, 0)], legend_color.stroke_width(4))
                            + Circle::new((20, 0), 7, legend_color.filled())
                    });
            }
            SeriesStyle::FloorMarkers => {
                let floor = y0 + (y1 - y0) * 0.02;
                let marks: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter_map(|&(x, _)| Some((to_axis(x, xl)?, floor)))
                    .collect();
                chart
                    .draw_series(
                        marks
                            .into_iter()
                            .map(|p| TriangleMarker::new(p, 11, color.stroke_width(3))),
                    )
                    .map_err(err)?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        TriangleMarker::new((x + 20, y), 11, legend_color.stroke_width(3))
                    });
            }
            SeriesStyle::Points => {
                if let Some(eb) = &s.error_bars {
                    let bars: Vec<_> = s
                        .points
                        .iter()
                        .zip(eb)
                        .filter_map(|(&(x, y), &(lo, hi))| {
                            let x = to_axis(x, xl)?;
                            let y = to_axis(y, yl)?;
                            let lo = to_axis(lo, yl).unwrap_or(y0);
                            let hi = to_axis(hi, yl).unwrap_or(y);
                            Some(ErrorBar::new_vertical(
                                x,
                                lo,
                                y,
                                hi,
                                color.stroke_width(3),
                                16,
                            ))
                        })
                        .collect();
                    chart.draw_series(bars).map_err(err)?;
                }
                chart
                    .draw_series(pts.into_iter().map(|p| Circle::new(p, 9, color.filled())))
                    .map_err(err)?
                    .label(&s.name)
                    .legend(move |(x, y)| Circle::new((x + 20, y), 9, legend_color.filled()));
            }
        }
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 30))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .legend_area_size(60)
        .position(legend_position)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The corner of the plot area (in axis coordinates) holding the fewest data points, where
/// the legend hides the least, and the points counted in each corner (upper right, upper
/// left, lower right, lower left).
fn emptiest_corner(
    spec: &ChartSpec,
    x: (f64, f64),
    y: (f64, f64),
) -> (SeriesLabelPosition, [usize; 4]) {
    let mut counts = [0usize; 4];
    let (w, h) = (
        (x.1 - x.0).max(f64::MIN_POSITIVE),
        (y.1 - y.0).max(f64::MIN_POSITIVE),
    );
    for s in spec
        .series
        .iter()
        .filter(|s| !matches!(s.style, SeriesStyle::FloorMarkers | SeriesStyle::Bands))
    {
        // Points on the plot, and for lines also three points between neighbours, so a
        // line through a corner counts as occupying it.
        let on_axes: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|&(px, py)| Some((to_axis(px, spec.x_log)?, to_axis(py, spec.y_log)?)))
            .collect();
        let mut samples = on_axes.clone();
        if s.style == SeriesStyle::Bars {
            // A bar occupies its whole height, from the axis up: both lower corners and,
            // when tall, the upper one above it.
            for &(px, py) in &on_axes {
                for t in [0.1, 0.3, 0.5, 0.7, 0.9] {
                    samples.push((px, y.0 + (py - y.0) * t));
                }
            }
        } else {
            for pair in on_axes.windows(2) {
                let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
                for t in [0.25, 0.5, 0.75] {
                    samples.push((ax + (bx - ax) * t, ay + (by - ay) * t));
                }
            }
        }
        for (px, py) in samples {
            let u = (px - x.0) / w;
            let v = (py - y.0) / h;
            // The legend box takes roughly the outer 45 % x 40 % of a corner.
            let (right, left, top, bottom) = (u > 0.55, u < 0.45, v > 0.6, v < 0.4);
            counts[0] += (top && right) as usize;
            counts[1] += (top && left) as usize;
            counts[2] += (bottom && right) as usize;
            counts[3] += (bottom && left) as usize;
        }
    }
    let corners = [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ];
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    (corners[best].clone(), counts)
}

/// The chart as an SVG document.
pub fn render_svg(spec: &ChartSpec) -> Result<String> {
    register_fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SVG_SIZE).into_drawing_area();
        draw(root, spec)?;
    }
    Ok(out)
}

/// The chart as PNG bytes ([`PNG_SIZE`], RGB).
pub fn render_png(spec: &ChartSpec) -> Result<Vec<u8>> {
    register_fonts();
    let (w, h) = PNG_SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(root, spec)?;
    }
    encode_png(&rgb, w, h)
}

/// Height in pixels of each panel of a stacked chart (PNG, and CSS pixels in SVG); the
/// first panel adds room for the title.
pub const PANEL_HEIGHT: u32 = 620;
const TITLE_HEIGHT: u32 = 80;

fn panels_size(n: usize) -> (u32, u32) {
    (PNG_SIZE.0, PANEL_HEIGHT * n.max(1) as u32 + TITLE_HEIGHT)
}

/// Draws `panels` stacked top to bottom over one shared x axis (the union of their data,
/// padded); the first panel's title is the chart's.
fn draw_panels<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, panels: &[ChartSpec]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let title = panels.first().map(|p| p.title.as_str()).unwrap_or("");
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| {
        Error::InvalidArgument(format!("cannot draw chart \"{title}\": {e}"))
    };
    root.fill(&WHITE).map_err(err)?;
    let x_log = panels.first().is_some_and(|p| p.x_log);
    let xs: Vec<f64> = panels.iter().flat_map(x_values).collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let x_range = padded(lo, hi, x_log);
    let mut rest = root;
    for (i, p) in panels.iter().enumerate() {
        let height = PANEL_HEIGHT as i32 + if i == 0 { TITLE_HEIGHT as i32 } else { 0 };
        let (area, below) = rest.split_vertically(height);
        let mut spec = p.clone();
        spec.x_log = x_log;
        if i > 0 {
            spec.title.clear();
        }
        draw_on(&area, &spec, Some(x_range))?;
        rest = below;
    }
    rest.present().map_err(err)?;
    Ok(())
}

/// Charts stacked over one x axis as an SVG document (width [`SVG_SIZE`], height
/// [`PANEL_HEIGHT`] per panel plus the title).
pub fn render_panels_svg(panels: &[ChartSpec]) -> Result<String> {
    register_fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, panels_size(panels.len())).into_drawing_area();
        draw_panels(root, panels)?;
    }
    Ok(out)
}

/// Charts stacked over one x axis as PNG bytes (RGB, 300 dpi; see [`render_panels_svg`]).
pub fn render_panels_png(panels: &[ChartSpec]) -> Result<Vec<u8>> {
    register_fonts();
    let (w, h) = panels_size(panels.len());
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_panels(root, panels)?;
    }
    encode_png(&rgb, w, h)
}

/// RGB pixels as PNG bytes at 300 dpi.
pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let fail =
        |e: &dyn std::fmt::Display| Error::InvalidArgument(format!("PNG encoding failed: {e}"));
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // 300 dpi = 11811 pixels per metre, so reports place the image at print size.
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 11811,
            yppu: 11811,
            unit: png::Unit::Meter,
        }));
        let mut writer = enc.write_header().map_err(|e| fail(&e))?;
        writer.write_image_data(rgb).map_err(|e| fail(&e))?;
    }
    Ok(png_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ChartSpec {
        ChartSpec {
            title: "Test chart".into(),
            x_label: "fibre length (km)".into(),
            y_label: "secret key rate (bit/s)".into(),
            x_log: false,
            y_log: true,
            x_ticks: Vec::new(),
            series: vec![
                Series {
                    name: "theory".into(),
                    style: SeriesStyle::Line,
                    points: vec![(0.0, 1e5), (50.0, 1e3), (100.0, 10.0)],
                    error_bars: None,
                    color: None,
                },
                Series {
                    name: "simulated".into(),
                    style: SeriesStyle::Points,
                    points: vec![(0.0, 9e4), (50.0, 1.1e3), (100.0, 0.0)],
                    error_bars: Some(vec![(8e4, 1e5), (1e3, 1.2e3), (0.0, 0.0)]),
                    color: None,
                },
            ],
        }
    }

    #[test]
    fn svg_carries_title_and_labels_as_text() {
        let svg = render_svg(&spec()).unwrap();
        assert!(svg.contains("Test chart"));
        assert!(svg.contains("fibre length (km)"));
        assert!(svg.contains("secret key rate (bit/s)"));
    }

    #[test]
    fn png_decodes_to_the_stated_size() {
        let bytes = render_png(&spec()).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), PNG_SIZE);
    }

    fn time_spec(with_bands: bool) -> ChartSpec {
        let mut series = vec![Series {
            name: "QBER".into(),
            style: SeriesStyle::Line,
            points: vec![
                (0.5, 1.0),
                (1.5, 2.0),
                (2.5, f64::NAN),
                (3.5, 1.5),
                (4.5, 2.5),
            ],
            error_bars: None,
            color: Some(0),
        }];
        if with_bands {
            series.insert(
                0,
                Series {
                    name: "realigning".into(),
                    style: SeriesStyle::Bands,
                    points: vec![(2.0, 3.0)],
                    error_bars: None,
                    color: Some(7),
                },
            );
        }
        ChartSpec {
            title: "Bands".into(),
            x_label: "link time (s)".into(),
            y_label: "QBER (%)".into(),
            x_log: false,
            y_log: false,
            x_ticks: Vec::new(),
            series,
        }
    }

    /// Pixels of the band colour: grey 7 of the palette at 22 % over white.
    fn band_pixels(png: &[u8]) -> usize {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut buf).unwrap();
        let grey = (255.0 - 0.22 * (255.0 - 120.0)) as i32;
        buf.chunks(3)
            .filter(|p| p.iter().all(|&c| (c as i32 - grey).abs() <= 1))
            .count()
    }

    #[test]
    fn nan_breaks_a_line_and_bands_are_shaded() {
        let runs = line_runs(
            &[
                (0.0, f64::NAN),
                (1.0, 1.0),
                (2.0, f64::NAN),
                (3.0, 2.0),
                (4.0, f64::NAN),
            ],
            false,
            false,
        );
        assert_eq!(runs, vec![vec![(1.0, 1.0)], vec![(3.0, 2.0)]]);
        // A band of 1/5 of the x range over the whole plot height: tens of thousands of
        // pixels of its colour, which the chart without it does not have.
        let with = band_pixels(&render_png(&time_spec(true)).unwrap());
        let without = band_pixels(&render_png(&time_spec(false)).unwrap());
        assert!(with > 50_000 && without < 1000, "{with} vs {without}");
        let svg = render_svg(&time_spec(true)).unwrap();
        assert!(svg.contains("realigning"));
    }

    #[test]
    fn panels_stack_over_one_axis_with_one_title() {
        let mut lower = time_spec(false);
        lower.title = "Lower title".into();
        lower.y_label = "accumulated (bits)".into();
        let panels = [time_spec(true), lower];
        let png = render_panels_png(&panels).unwrap();
        let info = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap()
            .info()
            .clone();
        assert_eq!(
            (info.width, info.height),
            (PNG_SIZE.0, 2 * PANEL_HEIGHT + 80)
        );
        let svg = render_panels_svg(&panels).unwrap();
        assert!(svg.contains("QBER (%)") && svg.contains("accumulated (bits)"));
        assert!(svg.contains("Bands") && !svg.contains("Lower title"));
    }
}
