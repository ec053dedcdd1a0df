//! Heat maps as PNG bytes and SVG text: one or more panels of coloured cells over the grid
//! of a two-dimensional sweep, on one colour scale with a colour bar, and a boundary drawn
//! along the cell edges that separate cells with and without key.
//!
//! Cells are centred on the grid values; a cell reaches halfway to its neighbours (in log
//! space on a log axis), and the outer cells as far out as half the gap to their one
//! neighbour. Cells without a value (no key on a logarithmic key-rate scale, a QBER over no
//! bits) are grey. The colours are an approximation of viridis (perceptually uniform and
//! readable with colour-vision deficiencies), interpolated between nine anchors.
//!
//! Must never depend on clap or touch the file system.

use super::charts::{encode_png, register_fonts, tick_label};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Pixel size of heat-map PNGs (two panels side by side and a colour bar).
pub const HEATMAP_PNG_SIZE: (u32, u32) = (2400, 1000);
/// Size of heat-map SVGs in CSS pixels.
pub const HEATMAP_SVG_SIZE: (u32, u32) = (2400, 1000);

/// Colour of a cell without a value.
pub const MISSING: RGBColor = RGBColor(200, 200, 200);

/// One panel: a value (or none) per grid cell, and optionally which cells have key (the
/// boundary between cells with and without key is drawn).
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapPanel {
    /// Panel title.
    pub title: String,
    /// Value per cell, indexed `ix * ys.len() + iy` (the sweep's point order); `None`, or a
    /// value <= 0 on a log colour scale, is drawn grey.
    pub values: Vec<Option<f64>>,
    /// Whether each cell has key, same indexing; the boundary is drawn along every edge
    /// between a cell with and a cell without.
    pub has_key: Option<Vec<bool>>,
}

/// A heat map: grid, axes, colour scale and panels (all panels share axes and scale).
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapSpec {
    /// Title (include the scenario name).
    pub title: String,
    /// x-axis label with unit (the first swept key).
    pub x_label: String,
    /// y-axis label with unit (the second swept key).
    pub y_label: String,
    /// Cell centres along x, in point order (need not be sorted).
    pub xs: Vec<f64>,
    /// Cell centres along y.
    pub ys: Vec<f64>,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Colour-bar label with unit.
    pub color_label: String,
    /// Logarithmic colour scale.
    pub color_log: bool,
    /// What a grey cell means (legend).
    pub missing_label: String,
    /// What the boundary line is (legend).
    pub boundary_label: String,
    /// The panels, left to right.
    pub panels: Vec<HeatmapPanel>,
}

/// Anchors of the colour map at t = 0, 1/8, …, 1 (viridis, sRGB).
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 145, 140),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// The colour of `t` in [0, 1] (clamped).
pub fn colormap(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn to_axis(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if log {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

/// Cell extents along one axis, in axis space, per point-order index; and the sorted
/// order of the indices.
fn cells(centres: &[f64], log: bool) -> (Vec<(f64, f64)>, Vec<usize>) {
    let pos: Vec<f64> = centres
        .iter()
        .map(|&v| to_axis(v, log).unwrap_or(0.0))
        .collect();
    let mut order: Vec<usize> = (0..pos.len()).collect();
    order.sort_by(|&a, &b| pos[a].total_cmp(&pos[b]));
    let mut extent = vec![(0.0, 0.0); pos.len()];
    let n = order.len();
    for (rank, &i) in order.iter().enumerate() {
        let c = pos[i];
        let half_gap = |other: usize| (pos[other] - c).abs() / 2.0;
        let (lo, hi) = if n == 1 {
            let d = if log { 0.5 } else { c.abs().max(1.0) * 0.1 };
            (c - d, c + d)
        } else if rank == 0 {
            let h = half_gap(order[1]);
            (c - h, c + h)
        } else if rank == n - 1 {
            let h = half_gap(order[n - 2]);
            (c - h, c + h)
        } else {
            (c - half_gap(order[rank - 1]), c + half_gap(order[rank + 1]))
        };
        extent[i] = (lo, hi);
    }
    (extent, order)
}

/// The colour scale's range in colour-axis space over every panel's drawable values.
fn color_range(spec: &HeatmapSpec) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for p in &spec.panels {
        for v in p.values.iter().flatten() {
            if let Some(a) = to_axis(*v, spec.color_log) {
                lo = lo.min(a);
                hi = hi.max(a);
            }
        }
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    if hi - lo < 1e-12 {
        let d = if spec.color_log {
            0.5
        } else {
            lo.abs().max(1.0) * 0.05
        };
        return Some((lo - d, hi + d));
    }
    Some((lo, hi))
}

fn labels(lo: f64, hi: f64, log: bool) -> usize {
    if log {
        ((hi.floor() - lo.ceil()) as usize + 1).clamp(3, 12)
    } else {
        8
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, spec: &HeatmapSpec) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| {
        Error::InvalidArgument(format!("cannot draw heat map \"{}\": {e}", spec.title))
    };
    let (nx, ny) = (spec.xs.len(), spec.ys.len());
    for p in &spec.panels {
        let has_key_len = p.has_key.as_ref().map_or(nx * ny, |k| k.len());
        if p.values.len() != nx * ny || has_key_len != nx * ny {
            return Err(Error::InvalidArgument(format!(
                "heat map \"{}\": panel \"{}\" has {} cells for a {nx} x {ny} grid",
                spec.title,
                p.title,
                p.values.len()
            )));
        }
    }
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .margin(14, 0, 0, 0)
        .titled(
            &spec.title,
            ("sans-serif", 44).into_font().style(FontStyle::Bold),
        )
        .map_err(err)?;
    let (width, _) = root.dim_in_pixel();
    let (main, side) = root.split_horizontally(width.saturating_sub(330));
    let panels = main.split_evenly((1, spec.panels.len().max(1)));
    let (x_cells, x_order) = cells(&spec.xs, spec.x_log);
    let (y_cells, y_order) = cells(&spec.ys, spec.y_log);
    let span = |c: &[(f64, f64)]| {
        c.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(lo, hi)| {
                (a.min(lo), b.max(hi))
            })
    };
    let (x0, x1) = span(&x_cells);
    let (y0, y1) = span(&y_cells);
    let (x0, x1) = if x0 < x1 { (x0, x1) } else { (0.0, 1.0) };
    let (y0, y1) = if y0 < y1 { (y0, y1) } else { (0.0, 1.0) };
    let range = color_range(spec);
    let color_of = |v: Option<f64>| -> RGBColor {
        match (v.and_then(|v| to_axis(v, spec.color_log)), range) {
            (Some(a), Some((lo, hi))) => colormap((a - lo) / (hi - lo)),
            _ => MISSING,
        }
    };
    let (xl, yl) = (spec.x_log, spec.y_log);
    for (panel, area) in spec.panels.iter().zip(panels) {
        let mut chart = ChartBuilder::on(&area)
            .caption(&panel.title, ("sans-serif", 34))
            .margin(24)
            .x_label_area_size(90)
            .y_label_area_size(150)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&spec.x_label)
            .y_desc(&spec.y_label)
            .axis_desc_style(("sans-serif", 30))
            .label_style(("sans-serif", 26))
            .x_labels(labels(x0, x1, xl))
            .y_labels(labels(y0, y1, yl))
            .x_label_formatter(&|v| tick_label(*v, xl))
            .y_label_formatter(&|v| tick_label(*v, yl))
            .draw()
            .map_err(err)?;
        let mut rects = Vec::with_capacity(nx * ny);
        for ix in 0..nx {
            for iy in 0..ny {
                let (a, b) = (x_cells[ix], y_cells[iy]);
                let color = color_of(panel.values[ix * ny + iy]);
                rects.push(Rectangle::new([(a.0, b.0), (a.1, b.1)], color.filled()));
            }
        }
        chart.draw_series(rects).map_err(err)?;
        if let Some(has_key) = &panel.has_key {
            // Edges between neighbours (in sorted order) with and without key.
            let mut segments: Vec<[(f64, f64); 2]> = Vec::new();
            for rx in 0..nx {
                for ry in 0..ny {
                    let (ix, iy) = (x_order[rx], y_order[ry]);
                    let here = has_key[ix * ny + iy];
                    if rx + 1 < nx {
                        let jx = x_order[rx + 1];
                        if has_key[jx * ny + iy] != here {
                            let x = x_cells[ix].1;
                            segments.push([(x, y_cells[iy].0), (x, y_cells[iy].1)]);
                        }
                    }
                    if ry + 1 < ny {
                        let jy = y_order[ry + 1];
                        if has_key[ix * ny + jy] != here {
                            let y = y_cells[iy].1;
                            segments.push([(x_cells[ix].0, y), (x_cells[ix].1, y)]);
                        }
                    }
                }
            }
            // A white band under a black line: visible on every colour of the map.
            for (color, width) in [(WHITE, 11), (BLACK, 5)] {
                chart
                    .draw_series(
                        segments
                            .iter()
                            .map(|s| PathElement::new(s.to_vec(), color.stroke_width(width))),
                    )
                    .map_err(err)?;
            }
        }
    }
    draw_color_bar(&side, spec, range).map_err(err)
}

/// The colour bar with its scale, and the legend of grey cells and the boundary.
fn draw_color_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &HeatmapSpec,
    range: Option<(f64, f64)>,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (_, height) = area.dim_in_pixel();
    let (bar_area, legend) = area.split_vertically(height.saturating_sub(220));
    let (lo, hi) = range.unwrap_or((0.0, 1.0));
    let log = spec.color_log;
    let mut chart = ChartBuilder::on(&bar_area)
        .margin_top(80)
        .margin_bottom(20)
        .margin_right(40)
        .y_label_area_size(190)
        .build_cartesian_2d(0.0..1.0, lo..hi)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(&spec.color_label)
        .axis_desc_style(("sans-serif", 28))
        .label_style(("sans-serif", 24))
        .y_labels(labels(lo, hi, log))
        .y_label_formatter(&|v| tick_label(*v, log))
        .draw()?;
    if range.is_some() {
        let steps = 200;
        chart.draw_series((0..steps).map(|k| {
            let a = lo + (hi - lo) * k as f64 / steps as f64;
            let b = lo + (hi - lo) * (k + 1) as f64 / steps as f64;
            let t = (k as f64 + 0.5) / steps as f64;
            Rectangle::new([(0.0, a), (1.0, b)], colormap(t).filled())
        }))?;
    }
    let font = ("sans-serif", 24).into_font();
    legend.draw(&Rectangle::new([(20, 20), (60, 60)], MISSING.filled()))?;
    legend.draw(&Text::new(
        spec.missing_label.clone(),
        (72, 28),
        font.clone(),
    ))?;
    legend.draw(&PathElement::new(
        vec![(20, 110), (60, 110)],
        BLACK.stroke_width(5),
    ))?;
    legend.draw(&Text::new(spec.boundary_label.clone(), (72, 98), font))?;
    Ok(())
}

/// The heat map as an SVG document.
pub fn render_svg(spec: &HeatmapSpec) -> Result<String> {
    register_fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, HEATMAP_SVG_SIZE).into_drawing_area();
        draw(root, spec)?;
    }
    Ok(out)
}

/// The heat map as PNG bytes ([`HEATMAP_PNG_SIZE`], RGB, 300 dpi).
pub fn render_png(spec: &HeatmapSpec) -> Result<Vec<u8>> {
    register_fonts();
    let (w, h) = HEATMAP_PNG_SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(root, spec)?;
    }
    encode_png(&rgb, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HeatmapSpec {
        // 3 x 2 grid; key only in the first column of x.
        HeatmapSpec {
            title: "Test map".into(),
            x_label: "fibre length (km)".into(),
            y_label: "dark-count probability".into(),
            xs: vec![0.0, 50.0, 100.0],
            ys: vec![1e-7, 1e-5],
            x_log: false,
            y_log: true,
            color_label: "secret key rate (bit/s)".into(),
            color_log: true,
            missing_label: "no key".into(),
            boundary_label: "zero-key boundary".into(),
            panels: vec![HeatmapPanel {
                title: "simulated".into(),
                values: vec![Some(1e5), Some(1e4), Some(0.0), None, None, None],
                has_key: Some(vec![true, true, false, false, false, false]),
            }],
        }
    }

    #[test]
    fn colormap_hits_its_anchors_and_clamps() {
        assert_eq!(colormap(0.0), RGBColor(68, 1, 84));
        assert_eq!(colormap(1.0), RGBColor(253, 231, 37));
        assert_eq!(colormap(0.5), RGBColor(33, 145, 140));
        assert_eq!(colormap(-3.0), colormap(0.0));
        assert_eq!(colormap(f64::NAN), colormap(0.0));
    }

    #[test]
    fn cells_meet_halfway_and_follow_sorted_order() {
        let (c, order) = cells(&[10.0, 0.0, 30.0], false);
        assert_eq!(order, vec![1, 0, 2]);
        assert_eq!(c[1], (-5.0, 5.0));
        assert_eq!(c[0], (5.0, 20.0));
        assert_eq!(c[2], (20.0, 40.0));
        let (c, _) = cells(&[1e-7, 1e-5], true);
        assert!((c[0].1 - (-6.0)).abs() < 1e-12 && (c[1].0 - (-6.0)).abs() < 1e-12);
    }

    #[test]
    fn boundary_and_labels_are_in_the_svg() {
        let svg = render_svg(&spec()).unwrap();
        assert!(svg.contains("Test map") && svg.contains("fibre length (km)"));
        assert!(svg.contains("zero-key boundary") && svg.contains("no key"));
        // The one x edge between key and no key (at 25 km) crosses both y cells: one
        // boundary line each, drawn twice (white band, black line).
        assert!(svg.matches("stroke=\"#000000\" stroke-width=\"5\"").count() >= 2);
    }

    #[test]
    fn png_decodes_to_the_stated_size() {
        let bytes = render_png(&spec()).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), HEATMAP_PNG_SIZE);
    }

    #[test]
    fn a_panel_of_the_wrong_size_is_an_error() {
        let mut s = spec();
        s.panels[0].values.pop();
        assert!(render_svg(&s).unwrap_err().to_string().contains("5 cells"));
    }
}
