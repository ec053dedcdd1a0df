//! Range checks on a parsed [`ScenarioSpec`]. Each violation is one line:
//! `key.path: must be <rule>, got <value>`.
//!
//! This is the only checker: the scenario file, the dotted-key setter
//! ([`super::with_value`], used by sweeps and overrides), the `[sweep]` table and the
//! command-line flags all end here or in [`WholeRule::check`], so a value gets the same
//! message whichever way it arrives. Numbers in messages are printed by [`fmt_num`]
//! (compact: `1e300`, not 301 digits) and text by [`fmt_text`] (control characters
//! escaped, so a message never writes raw escape sequences to a terminal).

use super::spec::{
    ATTACKS, COMPENSATION_POLICIES, DEAD_TIME_MODES, MISALIGNMENT_MODELS, ScenarioSpec, SweepSpec,
};

/// Cascade variants the post-processing knows (Martinez-Mateo et al. 2015 naming).
pub const CASCADE_VARIANTS: &[&str] = &["original", "biconf", "yanetal", "option7", "option8"];
/// Engine names accepted by `simulation.engine` and `--engine`.
pub const ENGINES: &[&str] = &["pulse", "event", "auto"];
/// Largest number of pulses one run may send (about 11.6 days of a 1 GHz link).
pub const MAX_PULSES: f64 = 1.0e15;
/// Most points one sweep may have (`sweep.steps`, `sweep.values`).
pub const MAX_SWEEP_POINTS: u64 = 10_000;
/// Largest integer every f64 up to which is exact (2^53): a float written for an integer
/// key is accepted only up to here, so `seed = 1.2345678901234567e18` cannot silently
/// become a neighbouring seed.
pub const MAX_EXACT_FLOAT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// The rule of a key that holds a whole number (a count or a seed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WholeRule {
    /// Dotted key path.
    pub key: &'static str,
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
    /// Why it must be whole (what it counts).
    pub what: &'static str,
}

/// `postprocessing.block_bits`.
pub const BLOCK_BITS: WholeRule = WholeRule {
    key: "postprocessing.block_bits",
    min: 64,
    max: u32::MAX as u64,
    what: "a count of bits",
};
/// `simulation.seed` (TOML integers stop at 2^63 - 1).
pub const SEED: WholeRule = WholeRule {
    key: "simulation.seed",
    min: 0,
    max: i64::MAX as u64,
    what: "the seed of the random streams",
};
/// `simulation.pulses` (stored as a float so that `1.0e10` can be written).
pub const PULSES: WholeRule = WholeRule {
    key: "simulation.pulses",
    min: 1,
    max: MAX_PULSES as u64,
    what: "a count of pulses",
};
/// `sweep.steps`.
pub const SWEEP_STEPS: WholeRule = WholeRule {
    key: "sweep.steps",
    min: 1,
    max: MAX_SWEEP_POINTS,
    what: "a count of sweep points",
};

/// `sweep.steps2` (the second axis of a two-dimensional sweep).
pub const SWEEP_STEPS2: WholeRule = WholeRule {
    key: "sweep.steps2",
    min: 1,
    max: MAX_SWEEP_POINTS,
    what: "a count of points of the second sweep axis",
};

/// The whole-number rule of a dotted key, if it has one.
pub fn whole_rule(key: &str) -> Option<WholeRule> {
    [BLOCK_BITS, SEED, PULSES, SWEEP_STEPS, SWEEP_STEPS2]
        .into_iter()
        .find(|r| r.key == key)
}

impl WholeRule {
    /// The allowed range as text: `[64, 4294967295]`.
    pub fn range_text(&self) -> String {
        format!("[{}, {}]", fmt_u64(self.min), fmt_u64(self.max))
    }

    fn out_of_range(&self, name: &str, shown: &str) -> String {
        format!(
            "{name}: must be in {}, got {shown} (a whole number: {})",
            self.range_text(),
            self.what
        )
    }

    /// Checks a number given as a float (a sweep value, a float in the file, a flag) and
    /// returns it as an integer. `name` is the key or flag named in the message.
    pub fn check(&self, name: &str, v: f64) -> Result<u64, String> {
        let range = self.range_text();
        if !v.is_finite() {
            return Err(format!(
                "{name}: must be a whole number in {range}, got {} ({})",
                fmt_num(v),
                self.what
            ));
        }
        if v.fract() != 0.0 {
            let lo = v.floor().clamp(self.min as f64, self.max as f64);
            let hi = v.ceil().clamp(self.min as f64, self.max as f64);
            let nearest = if lo == hi {
                fmt_num(lo)
            } else {
                format!("{} or {}", fmt_num(lo), fmt_num(hi))
            };
            return Err(format!(
                "{name}: must be a whole number in {range}, got {} ({}; nearest allowed: {nearest})",
                fmt_num(v),
                self.what
            ));
        }
        if v < self.min as f64 || v > self.max as f64 {
            return Err(self.out_of_range(name, &fmt_num(v)));
        }
        if v > MAX_EXACT_FLOAT_INTEGER {
            return Err(format!(
                "{name}: must be a whole number in {range}, got {} written as a float, which \
                 cannot hold every integer this large ({}): write it as an integer, without \
                 exponent or decimal point",
                fmt_num(v),
                self.what
            ));
        }
        Ok(v as u64)
    }

    /// Checks an integer (as TOML stores it).
    pub fn check_integer(&self, name: &str, v: i64) -> Result<u64, String> {
        if v < 0 || (v as u64) < self.min || (v as u64) > self.max {
            return Err(self.out_of_range(name, &v.to_string()));
        }
        Ok(v as u64)
    }

    /// Checks an unsigned integer (a parsed spec field).
    pub fn check_u64(&self, name: &str, v: u64) -> Result<u64, String> {
        if v < self.min || v > self.max {
            return Err(self.out_of_range(name, &v.to_string()));
        }
        Ok(v)
    }
}

/// An integer bound for a message: plain up to 12 digits, else `1e15` when that is exact
/// and shorter.
pub fn fmt_u64(n: u64) -> String {
    let plain = n.to_string();
    if plain.len() <= 12 || (n as f64) as u64 != n {
        return plain;
    }
    let exp = format!("{:e}", n as f64);
    if exp.len() < plain.len() { exp } else { plain }
}

/// A number for a message: plain when short (`0.7`, `4294967296`), in exponent notation
/// when it would be long (`1e300`, `1e-12`).
pub fn fmt_num(v: f64) -> String {
    let plain = format!("{v}");
    if !v.is_finite() || (plain.len() <= 12 && (v == 0.0 || v.abs() >= 1e-4)) {
        return plain;
    }
    let exp = format!("{v:e}");
    if exp.len() < plain.len() { exp } else { plain }
}

/// Text for a message or a table, quoted, with control characters (escape sequences,
/// carriage returns, NUL, …) escaped so that they cannot act on the terminal.
pub fn fmt_text(s: &str) -> String {
    format!("\"{}\"", escape_controls(s))
}

/// `s` with every control character written as an escape (`\u{1b}`, `\n`); other text is
/// kept as it is.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

struct Checker {
    out: Vec<String>,
}

impl Checker {
    fn finite(&mut self, key: &str, v: f64) -> bool {
        if v.is_finite() {
            true
        } else {
            self.out.push(format!(
                "{key}: must be a finite number, got {}",
                fmt_num(v)
            ));
            false
        }
    }
    fn range(&mut self, key: &str, v: f64, lo: f64, hi: f64) {
        if self.finite(key, v) && !(lo..=hi).contains(&v) {
            self.out.push(format!(
                "{key}: must be in [{}, {}], got {}",
                fmt_num(lo),
                fmt_num(hi),
                fmt_num(v)
            ));
        }
    }
    /// `v` in (0, hi]; false (and a message) otherwise.
    fn positive_at_most(&mut self, key: &str, v: f64, hi: f64) -> bool {
        if !self.finite(key, v) {
            return false;
        }
        if !(v > 0.0 && v <= hi) {
            self.out.push(format!(
                "{key}: must be in (0, {}], got {}",
                fmt_num(hi),
                fmt_num(v)
            ));
            return false;
        }
        true
    }
    fn probability(&mut self, key: &str, v: f64) {
        self.range(key, v, 0.0, 1.0);
    }
    fn open_probability(&mut self, key: &str, v: f64) {
        if self.finite(key, v) && !(v > 0.0 && v < 1.0) {
            self.out
                .push(format!("{key}: must be in (0, 1), got {}", fmt_num(v)));
        }
    }
    fn unit_interval_open_below(&mut self, key: &str, v: f64) {
        if self.finite(key, v) && !(v > 0.0 && v <= 1.0) {
            self.out
                .push(format!("{key}: must be in (0, 1], got {}", fmt_num(v)));
        }
    }
    fn non_negative(&mut self, key: &str, v: f64) {
        if self.finite(key, v) && v < 0.0 {
            self.out
                .push(format!("{key}: must be >= 0, got {}", fmt_num(v)));
        }
    }
    fn one_of(&mut self, key: &str, v: &str, allowed: &[&str]) {
        if !allowed.contains(&v) {
            self.out.push(format!(
                "{key}: must be one of {}, got {}",
                allowed.join(", "),
                fmt_text(v)
            ));
        }
    }
    /// Free text shown in tables and titles: no control characters (a newline would break
    /// a table row, an escape sequence would act on the terminal). `multiline` allows
    /// line feeds and tabs (the description).
    fn text(&mut self, key: &str, v: &str, multiline: bool) {
        let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t'));
        if let Some(c) = v.chars().find(|&c| bad(c)) {
            self.out.push(format!(
                "{key}: must not contain control characters{}, got {} (contains {})",
                if multiline {
                    " other than line feeds and tabs"
                } else {
                    ""
                },
                fmt_text(v),
                c.escape_default()
            ));
        }
    }
    fn whole(&mut self, rule: WholeRule, v: u64) {
        if let Err(e) = rule.check_u64(rule.key, v) {
            self.out.push(e);
        }
    }
}

/// Every violation in `spec`, in file order; empty when the scenario is valid. The
/// `[sweep]` table is checked for its own fields here; whether its values are valid for
/// the swept key is checked by [`super::Scenario::from_spec`].
pub fn violations(spec: &ScenarioSpec) -> Vec<String> {
    let mut c = Checker { out: Vec::new() };

    c.text("name", &spec.name, false);
    c.text("description", &spec.description, true);
    c.text("sites.alice", &spec.sites.alice, false);
    c.text("sites.bob", &spec.sites.bob, false);

    let src = &spec.source;
    if c.finite("source.rep_rate_hz", src.rep_rate_hz)
        && !(src.rep_rate_hz > 0.0 && src.rep_rate_hz <= 1.0e11)
    {
        c.out.push(format!(
            "source.rep_rate_hz: must be in (0, 1e11], got {}",
            fmt_num(src.rep_rate_hz)
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
        let key = format!("source.intensities.{i}.probability");
        if k.probability == 0.0 {
            // The decoy bounds divide each class's counts by its probability: a class that
            // is never sent has no counts and would abort every block.
            c.out.push(format!(
                "{key}: must be in (0, 1], got 0 (a class that is never sent gives the decoy \
                 estimates no counts; remove the [[source.intensities]] table instead)"
            ));
        } else {
            c.probability(&key, k.probability);
        }
        if k.label.trim().is_empty() {
            c.out
                .push(format!("source.intensities.{i}.label: must not be empty"));
        }
        c.text(&format!("source.intensities.{i}.label"), &k.label, false);
        if src.intensities[..i].iter().any(|o| o.label == k.label) {
            c.out.push(format!(
                "source.intensities.{i}.label: must be unique, got {} twice",
                fmt_text(&k.label)
            ));
        }
        sum += k.probability;
    }
    if !src.intensities.is_empty() && sum.is_finite() && (sum - 1.0).abs() > 1e-9 {
        c.out.push(format!(
            "source.intensities: the probabilities must sum to 1, got {}",
            fmt_num((sum * 1e12).round() / 1e12)
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
    c.one_of(
        "link.misalignment_model",
        &link.misalignment_model,
        MISALIGNMENT_MODELS,
    );
    c.range("link.drift_rad2_per_s", link.drift_rad2_per_s, 0.0, 1.0e3);
    c.positive_at_most("link.drift_step_s", link.drift_step_s, MAX_TIME_S);

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
            fmt_num(det.afterpulse_probability)
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
    c.whole(BLOCK_BITS, pp.block_bits);
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
    c.whole(SEED, sim.seed);
    c.one_of("simulation.engine", &sim.engine, ENGINES);
    match (sim.pulses, sim.duration_s) {
        (Some(_), Some(_)) => c
            .out
            .push("simulation: give either pulses or duration_s, not both".into()),
        (Some(p), None) => {
            if let Err(e) = PULSES.check(PULSES.key, p) {
                c.out.push(e);
            }
        }
        (None, Some(d)) => {
            if c.finite("simulation.duration_s", d)
                && src.rep_rate_hz.is_finite()
                && let Err(e) = duration_pulses(d, src.rep_rate_hz)
            {
                c.out.push(e);
            }
        }
        (None, None) => {}
    }

    if let Some(w) = sim.window_s {
        c.positive_at_most("simulation.window_s", w, MAX_TIME_S);
    }
    if let Some(comp) = &spec.compensation {
        compensation_violations(&mut c, spec, comp);
    }
    if let Some(adv) = &spec.adversary {
        c.one_of("adversary.attack", &adv.attack, ATTACKS);
        c.range("adversary.fraction", adv.fraction, 0.0, 1.0);
        if let Err(e) = event_engine_attack(&sim.engine, &adv.attack, spec.source.single_photon) {
            c.out.push(e);
        }
    }

    if let Some(sw) = &spec.sweep {
        c.out.extend(sweep_violations(sw, &SweepNames::TABLE));
        c.out.extend(sweep2_violations(
            sw,
            &SweepNames::TABLE,
            &SweepNames::table2(),
        ));
    }
    c.out
}

/// Whether the engine choice `engine` can simulate `attack` exactly (the engine `auto`
/// always can: it picks the pulse engine where the event engine cannot). The event engine
/// jumps from click to click and never sees the photons of a pulse, so it cannot follow
/// Eve's intercept-resend or photon-number-splitting measurements; beam splitting of a
/// Poisson source is exact there (the photons Eve taps from the channel's loss are
/// independent of those reaching Bob, see `physics::adversary`), of a single-photon source
/// it is not (one photon goes either way). The message names the key and the way out.
pub fn event_engine_attack(engine: &str, attack: &str, single_photon: bool) -> Result<(), String> {
    let exact = match attack {
        "none" => true,
        "beam_splitting" => !single_photon,
        _ => false,
    };
    if engine == "event" && !exact {
        let why = if attack == "beam_splitting" {
            "beam splitting of a single-photon source (one photon goes either to Bob or to Eve)"
        } else {
            "an attack that acts on the photons of every pulse"
        };
        return Err(format!(
            "simulation.engine: the event engine cannot simulate adversary.attack = {} \
             exactly ({why}); use engine = \"pulse\" or \"auto\" (auto picks the pulse \
             engine)",
            fmt_text(attack)
        ));
    }
    Ok(())
}

/// Longest time a time key (`drift_step_s`, `window_s`, `interval_s`, `realign_s`) may
/// hold: 10^8 s, about three years, longer than any run (`MAX_PULSES` at 10 MHz).
pub const MAX_TIME_S: f64 = 1.0e8;

fn compensation_violations(
    c: &mut Checker,
    spec: &ScenarioSpec,
    comp: &super::spec::CompensationSpec,
) {
    if comp.policy == "tracking" {
        // DESIGN §7 names it; it is refused with the reason rather than faked.
        c.out.push(
            "compensation.policy: \"tracking\" is not modelled: Bob measures only in Z and X, \
             so the disclosed bits fix the channel rotation only up to the sign of its third \
             (circular) Stokes component, and honest continuous feedback would need a \
             dithering controller this simulator does not have; use \"periodic\" or \
             \"threshold\""
                .into(),
        );
    } else {
        c.one_of("compensation.policy", &comp.policy, COMPENSATION_POLICIES);
    }
    let policy = comp.policy.as_str();
    c.range("compensation.realign_s", comp.realign_s, 0.0, MAX_TIME_S);
    if let Some(r) = comp.residual_misalignment {
        c.range("compensation.residual_misalignment", r, 0.0, 0.5);
    }
    match (policy, comp.interval_s) {
        ("periodic", None) => c.out.push(
            "compensation.interval_s: policy = \"periodic\" needs the period in seconds (> 0)"
                .into(),
        ),
        ("periodic", Some(i))
            if c.positive_at_most("compensation.interval_s", i, MAX_TIME_S)
                && comp.realign_s.is_finite()
                && comp.realign_s >= i =>
        {
            c.out.push(format!(
                "compensation.realign_s: must be shorter than compensation.interval_s = {} \
                 s (a realignment starts every interval), got {}",
                fmt_num(i),
                fmt_num(comp.realign_s)
            ));
        }
        ("periodic", Some(_)) => {}
        (_, Some(i)) => c.out.push(format!(
            "compensation.interval_s: only the \"periodic\" policy uses it (policy is {}), \
             got {}",
            fmt_text(policy),
            fmt_num(i)
        )),
        _ => {}
    }
    match (policy, comp.qber_threshold) {
        ("threshold", None) => c.out.push(
            "compensation.qber_threshold: policy = \"threshold\" needs the QBER in (0, 0.5] \
             above which the receiver realigns"
                .into(),
        ),
        ("threshold", Some(q))
            if c.finite("compensation.qber_threshold", q) && !(q > 0.0 && q <= 0.5) =>
        {
            c.out.push(format!(
                "compensation.qber_threshold: must be in (0, 0.5], got {}",
                fmt_num(q)
            ));
        }
        ("threshold", Some(_)) => {}
        (_, Some(q)) => c.out.push(format!(
            "compensation.qber_threshold: only the \"threshold\" policy uses it (policy is \
             {}), got {}",
            fmt_text(policy),
            fmt_num(q)
        )),
        _ => {}
    }
    if policy == "threshold" && spec.simulation.window_s.is_none() {
        c.out.push(
            "compensation.policy: \"threshold\" judges the public QBER of each time window: \
             set simulation.window_s (or run --window-s)"
                .into(),
        );
    }
}

/// The pulse count of `duration_s` seconds at `rep_rate_hz`: it must be a whole number in
/// [1, 1e15] (within a relative 1e-9, the rounding error of the product), so that
/// `duration_s` and `pulses` obey the same rule; otherwise the message gives the nearest
/// durations that are.
pub fn duration_pulses(duration_s: f64, rep_rate_hz: f64) -> Result<u64, String> {
    let key = "simulation.duration_s";
    let n = duration_s * rep_rate_hz;
    let rate = fmt_num(rep_rate_hz);
    if !(duration_s > 0.0 && n.is_finite() && (1.0..=MAX_PULSES).contains(&n.round())) {
        return Err(format!(
            "{key}: must give a whole number of pulses in [1, {MAX_PULSES:e}] at \
             source.rep_rate_hz = {rate} Hz, got {} s ({} pulses)",
            fmt_num(duration_s),
            fmt_num(n)
        ));
    }
    let whole = n.round();
    if (n - whole).abs() > 1e-9 * whole.max(1.0) {
        let lo = n.floor().max(1.0);
        let hi = n.ceil();
        return Err(format!(
            "{key}: must give a whole number of pulses at source.rep_rate_hz = {rate} Hz, \
             got {} s = {} pulses; nearest: {} s ({} pulses) or {} s ({} pulses), or give \
             simulation.pulses instead",
            fmt_num(duration_s),
            fmt_num(n),
            fmt_num(lo / rep_rate_hz),
            fmt_num(lo),
            fmt_num(hi / rep_rate_hz),
            fmt_num(hi)
        ));
    }
    Ok(whole as u64)
}

/// How the fields of a sweep are named in messages: the `[sweep]` table's keys, the
/// `sweep` command's flags, or a mix (each field named after where its value came from).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepNames {
    /// Name of `param`.
    pub param: String,
    /// Name of `from`.
    pub from: String,
    /// Name of `to`.
    pub to: String,
    /// Name of `steps`.
    pub steps: String,
    /// Name of `values`; item `i` is named `{values}.{i}` when `values_indexed`.
    pub values: String,
    /// Name of `log`.
    pub log: String,
    /// Whether single values are named by index (`sweep.values.2`) rather than by the list.
    pub values_indexed: bool,
}

impl SweepNames {
    /// The `[sweep]` table of a scenario file.
    pub const TABLE: SweepNames = SweepNames {
        param: String::new(),
        from: String::new(),
        to: String::new(),
        steps: String::new(),
        values: String::new(),
        log: String::new(),
        values_indexed: true,
    };

    fn name<'a>(&'a self, given: &'a str, table: &'static str) -> &'a str {
        if given.is_empty() { table } else { given }
    }
    pub(crate) fn param(&self) -> &str {
        self.name(&self.param, "sweep.param")
    }
    pub(crate) fn from(&self) -> &str {
        self.name(&self.from, "sweep.from")
    }
    pub(crate) fn to(&self) -> &str {
        self.name(&self.to, "sweep.to")
    }
    pub(crate) fn steps(&self) -> &str {
        self.name(&self.steps, "sweep.steps")
    }
    pub(crate) fn values(&self) -> &str {
        self.name(&self.values, "sweep.values")
    }
    pub(crate) fn log(&self) -> &str {
        self.name(&self.log, "sweep.log")
    }
    /// The name of item `i` of the value list.
    pub fn value_item(&self, i: usize) -> String {
        if self.values_indexed {
            format!("{}.{i}", self.values())
        } else {
            self.values().to_string()
        }
    }

    /// The second axis of the `[sweep]` table (`sweep.param2`, `sweep.from2`, …), for
    /// checking [`SweepSpec::axis2`].
    pub fn table2() -> SweepNames {
        SweepNames {
            param: "sweep.param2".into(),
            from: "sweep.from2".into(),
            to: "sweep.to2".into(),
            steps: "sweep.steps2".into(),
            values: "sweep.values2".into(),
            log: "sweep.log2".into(),
            values_indexed: true,
        }
    }

    /// The second axis named after its flags (`--param2`, `--from2`, …).
    pub fn flags2() -> SweepNames {
        SweepNames {
            param: "--param2".into(),
            from: "--from2".into(),
            to: "--to2".into(),
            steps: "--steps2".into(),
            values: "--values2".into(),
            log: "--log2".into(),
            values_indexed: false,
        }
    }

    /// Every field named after its flag (`--from`, …).
    pub fn flags() -> SweepNames {
        SweepNames {
            param: "--param".into(),
            from: "--from".into(),
            to: "--to".into(),
            steps: "--steps".into(),
            values: "--values".into(),
            log: "--log".into(),
            values_indexed: false,
        }
    }
}

/// The violations of a sweep specification's own fields (not whether each value suits the
/// swept key: that is [`super::with_value`]'s check). Fields are named by `names`.
pub fn sweep_violations(sw: &SweepSpec, names: &SweepNames) -> Vec<String> {
    let mut out = Vec::new();
    let param = sw.param.trim();
    if param.is_empty() {
        out.push(format!(
            "{}: must be a dotted numeric scenario key such as link.length_km, got {}",
            names.param(),
            fmt_text(&sw.param)
        ));
    }
    let log_note = |n: &str| format!("a log sweep ({}) needs values > 0", n);
    match (&sw.values, sw.from, sw.to, sw.steps) {
        (Some(values), None, None, None) => {
            if values.is_empty() {
                out.push(format!(
                    "{}: must list between 1 and {MAX_SWEEP_POINTS} values, got none",
                    names.values()
                ));
            }
            if values.len() as u64 > MAX_SWEEP_POINTS {
                out.push(format!(
                    "{}: must list between 1 and {MAX_SWEEP_POINTS} values, got {}",
                    names.values(),
                    values.len()
                ));
            }
            for (i, &v) in values.iter().enumerate() {
                if !v.is_finite() {
                    out.push(format!(
                        "{}: every value must be a finite number, got {}",
                        names.value_item(i),
                        fmt_num(v)
                    ));
                } else if sw.log && v <= 0.0 {
                    out.push(format!(
                        "{}: {}, got {}",
                        names.value_item(i),
                        log_note(names.log()),
                        fmt_num(v)
                    ));
                }
            }
        }
        (Some(_), ..) => out.push(format!(
            "give either {} or {}/{}/{}, not both",
            names.values(),
            names.from(),
            names.to(),
            names.steps()
        )),
        (None, Some(from), Some(to), Some(steps)) => {
            let mut ends_ok = true;
            for (name, v) in [(names.from(), from), (names.to(), to)] {
                if !v.is_finite() {
                    out.push(format!(
                        "{name}: must be a finite number, got {}",
                        fmt_num(v)
                    ));
                    ends_ok = false;
                } else if sw.log && v <= 0.0 {
                    out.push(format!(
                        "{name}: {}, got {}",
                        log_note(names.log()),
                        fmt_num(v)
                    ));
                    ends_ok = false;
                }
            }
            if ends_ok && from > to {
                out.push(format!(
                    "{} ({}) must not exceed {} ({})",
                    names.from(),
                    fmt_num(from),
                    names.to(),
                    fmt_num(to)
                ));
                ends_ok = false;
            }
            if let Err(e) = SWEEP_STEPS.check_u64(names.steps(), steps) {
                out.push(e);
            } else if ends_ok && steps == 1 && from != to {
                out.push(format!(
                    "{} 1 gives a single point: set {} equal to {} (got {} and {})",
                    names.steps(),
                    names.from(),
                    names.to(),
                    fmt_num(from),
                    fmt_num(to)
                ));
            } else if ends_ok && steps > 1 && from == to {
                out.push(format!(
                    "{} and {} are both {}: use {} 1 for a single point",
                    names.from(),
                    names.to(),
                    fmt_num(from),
                    names.steps()
                ));
            }
        }
        (None, from, to, steps) => {
            let missing: Vec<&str> = [
                (names.from(), from.is_none()),
                (names.to(), to.is_none()),
                (names.steps(), steps.is_none()),
            ]
            .into_iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| n)
            .collect();
            out.push(format!(
                "sweep of {}: missing {} (give {}, {} and {}, or {} = [a, b, c])",
                fmt_text(param),
                missing.join(", "),
                names.from(),
                names.to(),
                names.steps(),
                names.values()
            ));
        }
    }
    out
}

/// The violations of a sweep's second axis (`param2`, `from2`, `to2`, `steps2`, `values2`,
/// `log2`), named by `names2`, and of the grid as a whole: the axis checked like the first
/// ([`sweep_violations`] on [`SweepSpec::axis2`]), `param2` present and different from
/// `param`, and at most [`MAX_SWEEP_POINTS`] grid points. Empty for a one-axis sweep.
pub fn sweep2_violations(sw: &SweepSpec, names: &SweepNames, names2: &SweepNames) -> Vec<String> {
    let Some(axis2) = sw.axis2() else {
        return Vec::new();
    };
    if sw.param2.is_none() {
        let given: Vec<&str> = [
            (names2.from(), sw.from2.is_some()),
            (names2.to(), sw.to2.is_some()),
            (names2.steps(), sw.steps2.is_some()),
            (names2.values(), sw.values2.is_some()),
            (names2.log(), sw.log2),
        ]
        .into_iter()
        .filter(|(_, g)| *g)
        .map(|(n, _)| n)
        .collect();
        return vec![format!(
            "{}: missing: {} given without the key of the second axis (give {} = a dotted \
             numeric scenario key such as detector.dark_count_probability)",
            names2.param(),
            given.join(", "),
            names2.param()
        )];
    }
    let mut out = sweep_violations(&axis2, names2);
    let (p1, p2) = (sw.param.trim(), axis2.param.trim());
    if !p2.is_empty() && p1 == p2 {
        out.push(format!(
            "{}: must differ from {} (both are {}): a two-dimensional sweep varies two keys",
            names2.param(),
            names.param(),
            fmt_text(p2)
        ));
    }
    if out.is_empty()
        && let (Ok(v1), Ok(v2)) = (sweep_values(sw, names), sweep_values(&axis2, names2))
    {
        let total = v1.len() as u128 * v2.len() as u128;
        if total > MAX_SWEEP_POINTS as u128 {
            out.push(format!(
                "sweep grid: {} values of {} times {} values of {} make {total} points; \
                 at most {MAX_SWEEP_POINTS} are allowed (reduce {} or {})",
                v1.len(),
                fmt_text(p1),
                v2.len(),
                fmt_text(p2),
                if sw.values.is_some() {
                    names.values()
                } else {
                    names.steps()
                },
                if axis2.values.is_some() {
                    names2.values()
                } else {
                    names2.steps()
                },
            ));
        }
    }
    out
}

/// The values of a sweep: its explicit `values`, or `steps` values from `from` to `to`
/// (both included), evenly or (with `log`) geometrically spaced. A grid over a whole-number
/// key (`postprocessing.block_bits`, …) is rounded to whole numbers (the points record the
/// values used); explicit values are taken as given and must be whole themselves. Errors
/// are [`sweep_violations`].
pub fn sweep_values(sw: &SweepSpec, names: &SweepNames) -> Result<Vec<f64>, Vec<String>> {
    let violations = sweep_violations(sw, names);
    if !violations.is_empty() {
        return Err(violations);
    }
    match (&sw.values, sw.from, sw.to, sw.steps) {
        (Some(values), ..) => Ok(values.clone()),
        (None, Some(from), Some(to), Some(steps)) => {
            let mut values = sweep_grid(from, to, steps, sw.log);
            if whole_rule(sw.param.trim()).is_some() {
                for v in &mut values {
                    *v = v.round();
                }
            }
            Ok(values)
        }
        _ => Err(vec!["sweep: give either values or from, to, steps".into()]),
    }
}

/// `steps` values from `from` to `to`, both included; geometric with `log`. No checks:
/// call [`sweep_violations`] first.
pub fn sweep_grid(from: f64, to: f64, steps: u64, log: bool) -> Vec<f64> {
    if steps <= 1 {
        return vec![from];
    }
    let n = (steps - 1) as f64;
    (0..steps)
        .map(|i| {
            let t = i as f64 / n;
            if i == steps - 1 {
                to
            } else if log {
                // Rounded to 12 significant digits, so 1e-8..1e-4 gives 1e-7, not 9.99…e-8.
                round_significant((from.ln() + (to.ln() - from.ln()) * t).exp())
            } else {
                from + (to - from) * t
            }
        })
        .collect()
}

fn round_significant(v: f64) -> f64 {
    format!("{v:.11e}").parse().unwrap_or(v)
}
