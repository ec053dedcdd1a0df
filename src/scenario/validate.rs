//! Range checks on a parsed [`ScenarioSpec`]. Each violation is one line:
//! `key.path: must be <rule>, got <value>`.

use super::spec::{DEAD_TIME_MODES, ScenarioSpec};

/// Cascade variants the post-processing knows (Martinez-Mateo et al. 2015 naming).
pub const CASCADE_VARIANTS: &[&str] = &["original", "biconf", "yanetal", "option7", "option8"];
/// Engine names accepted by `simulation.engine` and `--engine`.
pub const ENGINES: &[&str] = &["pulse", "event", "auto"];
/// Largest number of pulses one run may send (about 11.6 days of a 1 GHz link).
pub const MAX_PULSES: f64 = 1.0e15;

struct Checker {
    out: Vec<String>,
}

impl Checker {
    fn finite(&mut self, key: &str, v: f64) -> bool {
        if v.is_finite() {
            true
        } else {
            self.out
                .push(format!("{key}: must be a finite number, got {v}"));
            false
        }
    }
    fn range(&mut self, key: &str, v: f64, lo: f64, hi: f64) {
        if self.finite(key, v) && !(lo..=hi).contains(&v) {
            self.out
                .push(format!("{key}: must be in [{lo}, {hi}], got {v}"));
        }
    }
    fn probability(&mut self, key: &str, v: f64) {
        self.range(key, v, 0.0, 1.0);
    }
    fn open_probability(&mut self, key: &str, v: f64) {
        if self.finite(key, v) && !(v > 0.0 && v < 1.0) {
            self.out.push(format!("{key}: must be in (0, 1), got {v}"));
        }
    }
    fn unit_interval_open_below(&mut self, key: &str, v: f64) {
        if self.finite(key, v) && !(v > 0.0 && v <= 1.0) {
            self.out.push(format!("{key}: must be in (0, 1], got {v}"));
        }
    }
    fn non_negative(&mut self, key: &str, v: f64) {
        if self.finite(key, v) && v < 0.0 {
            self.out.push(format!("{key}: must be >= 0, got {v}"));
        }
    }
    fn one_of(&mut self, key: &str, v: &str, allowed: &[&str]) {
        if !allowed.contains(&v) {
            self.out.push(format!(
                "{key}: must be one of {}, got \"{v}\"",
                allowed.join(", ")
            ));
        }
    }
}

/// Every violation in `spec`, in file order; empty when the scenario is valid.
pub fn violations(spec: &ScenarioSpec) -> Vec<String> {
    let mut c = Checker { out: Vec::new() };

    let src = &spec.source;
    if c.finite("source.rep_rate_hz", src.rep_rate_hz)
        && !(src.rep_rate_hz > 0.0 && src.rep_rate_hz <= 1.0e11)
    {
        c.out.push(format!(
            "source.rep_rate_hz: must be in (0, 1e11], got {}",
            src.rep_rate_hz
        ));
    }
    c.probability("source.basis_z_probability", src.basis_z_probability);
    if src.intensities.is_empty() {
        c.out
            .push("source.intensities: must list at least one intensity class, got none".into());
    }
    if src.intensities.len() > 8 {
        c.out.push(format!(
            "source.intensities: at most 8 intensity classes are supported, got {}",
            src.intensities.len()
        ));
    }
    let mut sum = 0.0;
    for (i, k) in src.intensities.iter().enumerate() {
        c.range(
            &format!("source.intensities.{i}.mean_photon_number"),
            k.mean_photon_number,
            0.0,
            100.0,
        );
        c.probability(
            &format!("source.intensities.{i}.probability"),
            k.probability,
        );
        if k.label.trim().is_empty() {
            c.out
                .push(format!("source.intensities.{i}.label: must not be empty"));
        }
        if src.intensities[..i].iter().any(|o| o.label == k.label) {
            c.out.push(format!(
                "source.intensities.{i}.label: must be unique, got \"{}\" twice",
                k.label
            ));
        }
        sum += k.probability;
    }
    if !src.intensities.is_empty() && (sum - 1.0).abs() > 1e-9 {
        c.out.push(format!(
            "source.intensities: the probabilities must sum to 1, got {}",
            (sum * 1e12).round() / 1e12
        ));
    }

    let link = &spec.link;
    c.range("link.length_km", link.length_km, 0.0, 10_000.0);
    c.range(
        "link.attenuation_db_per_km",
        link.attenuation_db_per_km,
        0.0,
        100.0,
    );
    c.range("link.extra_loss_db", link.extra_loss_db, 0.0, 1000.0);
    c.range("link.misalignment", link.misalignment, 0.0, 0.5);

    c.probability("receiver.transmittance", spec.receiver.transmittance);
    c.probability(
        "receiver.basis_z_probability",
        spec.receiver.basis_z_probability,
    );

    let det = &spec.detector;
    c.probability("detector.efficiency", det.efficiency);
    c.range(
        "detector.dark_count_probability",
        det.dark_count_probability,
        0.0,
        0.5,
    );
    if c.finite(
        "detector.afterpulse_probability",
        det.afterpulse_probability,
    ) && !(0.0..1.0).contains(&det.afterpulse_probability)
    {
        c.out.push(format!(
            "detector.afterpulse_probability: must be in [0, 1), got {}",
            det.afterpulse_probability
        ));
    }
    c.non_negative("detector.afterpulse_decay_ns", det.afterpulse_decay_ns);
    c.range("detector.dead_time_ns", det.dead_time_ns, 0.0, 1.0e9);
    c.one_of(
        "detector.dead_time_mode",
        &det.dead_time_mode,
        DEAD_TIME_MODES,
    );
    c.unit_interval_open_below("detector.efficiency_mismatch", det.efficiency_mismatch);

    let pp = &spec.postprocessing;
    if !(64..=u32::MAX as u64).contains(&pp.block_bits) {
        c.out.push(format!(
            "postprocessing.block_bits: must be in [64, 4294967295], got {}",
            pp.block_bits
        ));
    }
    c.one_of(
        "postprocessing.reconciliation",
        &pp.reconciliation,
        &["cascade"],
    );
    c.one_of(
        "postprocessing.cascade_variant",
        &pp.cascade_variant,
        CASCADE_VARIANTS,
    );
    c.open_probability("postprocessing.epsilon_sec", pp.epsilon_sec);
    c.open_probability("postprocessing.epsilon_cor", pp.epsilon_cor);
    c.range("postprocessing.qber_abort", pp.qber_abort, 0.0, 0.5);
    c.range("postprocessing.f_ec", pp.f_ec, 1.0, 10.0);
    c.range(
        "postprocessing.message_overhead_us",
        pp.message_overhead_us,
        0.0,
        1.0e7,
    );

    let sim = &spec.simulation;
    c.one_of("simulation.engine", &sim.engine, ENGINES);
    match (sim.pulses, sim.duration_s) {
        (Some(_), Some(_)) => c
            .out
            .push("simulation: give either pulses or duration_s, not both".into()),
        (Some(p), None) => {
            if c.finite("simulation.pulses", p)
                && !((1.0..=MAX_PULSES).contains(&p) && p.fract() == 0.0)
            {
                c.out.push(format!(
                    "simulation.pulses: must be a whole number in [1, {MAX_PULSES:e}], got {p}"
                ));
            }
        }
        (None, Some(d)) => {
            if c.finite("simulation.duration_s", d) {
                let n = d * src.rep_rate_hz;
                if !(d > 0.0 && (1.0..=MAX_PULSES).contains(&n)) {
                    c.out.push(format!(
                        "simulation.duration_s: must give between 1 and {MAX_PULSES:e} pulses at source.rep_rate_hz, got {d} s"
                    ));
                }
            }
        }
        (None, None) => {}
    }

    if let Some(sw) = &spec.sweep {
        if sw.values.is_none() && (sw.from.is_none() || sw.to.is_none() || sw.steps.is_none()) {
            c.out
                .push("sweep: give either values = [...] or all of from, to, steps".into());
        }
        if sw.values.is_some() && (sw.from.is_some() || sw.to.is_some() || sw.steps.is_some()) {
            c.out
                .push("sweep: give either values = [...] or from/to/steps, not both".into());
        }
    }
    c.out
}
