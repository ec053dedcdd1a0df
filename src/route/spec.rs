//! The route file (DESIGN §7 route keys): parsing and validation into a [`Route`].
//!
//! A route file has the top-level keys `name` (required), `description`, `base` (required:
//! a scenario file path, or an inline `[base]` table holding scenario tables),
//! `[simulation] duration_s, seed`, `[relay] chunk_bits, auth_tag_bits, link_auth`, `[[nodes]] name,
//! lat, lon, trusted`, `[[spans]] from, to, length_km, <scenario overrides>` and
//! `[[demands]] from, to, rate_bps`. Unknown keys are errors at every level.
//!
//! Each span's scenario is the base scenario deep-merged with the span's overrides (tables
//! merge key by key, any other value, arrays included, replaces), then `link.length_km =
//! length_km`, `simulation.duration_s` and `simulation.seed` from the route's
//! `[simulation]`, `simulation.pulses` removed, `name = "<route>: span <i> (<from> –
//! <to>)"` and `sites` set to the two node names (unless the span overrides `sites`). That
//! table goes through the scenario's own checks ([`Scenario::from_table`]); its messages
//! come back prefixed with `spans[i].`. The base is also checked once on its own, and its
//! problems are reported once (`base.` for an inline base, `base (<file>): ` for a file),
//! not again for every span that inherits them.
//!
//! Every violation is collected and returned together as [`Error::RouteInvalid`], each
//! line starting with its key path (`spans[2].length_km: must be in [0, 10000], got -5`);
//! TOML syntax errors and a base file that cannot be read or parsed are
//! [`Error::RouteSyntax`] naming the file. No input panics.
//!
//! Must never depend on `simulate`, `relay`, `plan`, `report` or the file system: the
//! caller reads the base scenario through `load_base`. Uses [`super::graph`] only for
//! connectivity.

use super::graph::{Topology, connected};
use super::{Demand, LinkAuth, Node, RelayParams, Route, Span};
use crate::error::{Error, Result};
use crate::scenario::escape_terminal;
use crate::scenario::{
    SEED, Scenario, ScenarioSpec, WholeRule, escape_controls, fmt_num, fmt_text,
};
use std::collections::HashMap;
use toml::{Table, Value};

/// Most nodes a route may have.
pub const MAX_NODES: usize = 1000;
/// Most spans a route may have (each one is a whole link simulation).
pub const MAX_SPANS: usize = 1000;
/// Most demands a route may have.
pub const MAX_DEMANDS: usize = 1000;
/// Largest `demands[i].rate_bps`, bits per second.
pub const MAX_RATE_BPS: f64 = 1.0e12;

/// `relay.chunk_bits`: bits per relay request, up to 2^20 (1 Mibit).
pub const CHUNK_BITS: WholeRule = WholeRule {
    key: "relay.chunk_bits",
    min: 1,
    max: 1 << 20,
    what: "bits delivered per relay request",
};

/// `relay.auth_tag_bits`: a Wegman-Carter tag of 16 to 1024 bits.
pub const AUTH_TAG_BITS: WholeRule = WholeRule {
    key: "relay.auth_tag_bits",
    min: 16,
    max: 1024,
    what: "bits of one authentication tag",
};

const TOP_KEYS: &[&str] = &[
    "base",
    "demands",
    "description",
    "name",
    "nodes",
    "relay",
    "simulation",
    "spans",
];
const SIMULATION_KEYS: &[&str] = &["duration_s", "seed"];
const RELAY_KEYS: &[&str] = &["auth_tag_bits", "chunk_bits", "link_auth"];
const NODE_KEYS: &[&str] = &["lat", "lon", "name", "trusted"];
const DEMAND_KEYS: &[&str] = &["from", "rate_bps", "to"];
/// A span's own keys; every other key is a scenario table override.
const SPAN_KEYS: &[&str] = &["from", "length_km", "to"];
/// Scenario keys a span may not override, and why.
const SPAN_FIXED: &[(&str, &str)] = &[
    (
        "name",
        "a span scenario is named by the route (\"<route>: span <i> (<from> – <to>)\")",
    ),
    (
        "description",
        "a span scenario keeps the base scenario's description",
    ),
    (
        "sweep",
        "a route runs each span once; sweep a scenario on its own with `qkdsim sweep`",
    ),
];
/// Keys under a span's `simulation` override that the route sets for every span.
const SPAN_SIMULATION_FIXED: &[&str] = &["duration_s", "pulses", "seed"];
/// Most node names listed in an "unknown node" message.
const LISTED_NODES: usize = 20;

/// Parses and validates a route file.
///
/// `origin` names the file in messages. `load_base(path)` returns the text of the base
/// scenario file named by `base = "..."` exactly as written (the caller resolves it against
/// the route file's folder), or a message saying why it cannot be read.
pub fn parse_route(
    text: &str,
    origin: &str,
    load_base: &dyn Fn(&str) -> std::result::Result<String, String>,
) -> Result<Route> {
    let root: Table = toml::from_str(text).map_err(|e| {
        Error::RouteSyntax(format!(
            "{}: {}",
            escape_controls(origin),
            escape_terminal(e.to_string().trim_end())
        ))
    })?;
    let mut c = Check::default();

    for key in root.keys() {
        if !TOP_KEYS.contains(&key.as_str()) {
            c.unknown("", key, TOP_KEYS);
        }
    }
    let name = match root.get("name") {
        None => {
            c.push("name: missing field `name` (required: the route's name, a string)".into());
            None
        }
        Some(v) => c.name("name", v),
    };
    let description = match root.get("description") {
        None => Some(String::new()),
        Some(v) => c.text("description", v, true),
    };
    let base = load_base_table(&root, origin, load_base, &mut c)?;
    let (duration_s, seed) = c.simulation(root.get("simulation"));
    // The base on its own, once; then every span's scenario as the spans are read.
    let route_name = escape_controls(name.as_deref().unwrap_or("route"));
    let (base_table, base_messages) = match &base {
        Some(b) => {
            let messages = c.base_check(b, &route_name, duration_s, seed);
            (b.table.clone(), messages)
        }
        None => (Table::new(), Vec::new()),
    };
    let relay = c.relay(root.get("relay"));
    let nodes = c.nodes(root.get("nodes"));
    let names = node_index(&nodes);
    let context = SpanContext {
        base: &base_table,
        base_messages: &base_messages,
        route_name: &route_name,
        names: &names,
        nodes: &nodes,
        duration_s,
        seed,
    };
    let spans = c.spans(root.get("spans"), &context);
    let demands = c.demands(root.get("demands"), &names, &nodes);

    // Every demand's ends joined through trusted nodes (only when every span's ends are
    // known: otherwise a missing span would make the message wrong).
    let all_spans_known = spans.iter().all(|s| s.from.is_some() && s.to.is_some());
    if all_spans_known {
        let topo = Topology {
            nodes: nodes.len(),
            spans: spans
                .iter()
                .filter_map(|s| Some((s.from?, s.to?)))
                .collect(),
            trusted: nodes
                .iter()
                .map(|n| n.as_ref().is_none_or(|n| n.trusted))
                .collect(),
        };
        for d in &demands {
            if let (Some(a), Some(b)) = (d.from, d.to)
                && a != b
            {
                c.connectivity(d.index, a, b, &topo, &nodes);
            }
        }
    }

    if !c.out.is_empty() {
        return Err(Error::RouteInvalid(c.out));
    }
    // No violation: every part is present.
    let invalid = || Error::RouteInvalid(vec!["route: incomplete after validation".into()]);
    let nodes: Vec<Node> = nodes
        .into_iter()
        .collect::<Option<_>>()
        .ok_or_else(invalid)?;
    let mut route_spans = Vec::with_capacity(spans.len());
    for span in spans {
        route_spans.push(Span {
            index: span.index,
            from: span.from.ok_or_else(invalid)?,
            to: span.to.ok_or_else(invalid)?,
            length_km: span.length_km.ok_or_else(invalid)?,
            scenario: span.scenario.ok_or_else(invalid)?,
        });
    }
    let mut route_demands = Vec::with_capacity(demands.len());
    for d in demands {
        route_demands.push(Demand {
            index: d.index,
            from: d.from.ok_or_else(invalid)?,
            to: d.to.ok_or_else(invalid)?,
            rate_bps: d.rate_bps.ok_or_else(invalid)?,
        });
    }
    Ok(Route {
        name: name.ok_or_else(invalid)?,
        description: description.ok_or_else(invalid)?,
        nodes,
        spans: route_spans,
        demands: route_demands,
        duration_s: duration_s.ok_or_else(invalid)?,
        seed,
        relay,
    })
}

/// Deep merge: `over`'s tables merge into `base`'s key by key; any other value of `over`
/// (arrays of tables such as `source.intensities` included) replaces `base`'s.
pub fn merge(base: &mut Table, over: &Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The base scenario, ready to merge: where its messages come from and its table with the
/// keys the route sets removed.
struct Base {
    /// Prefix of its messages: `base.` or `base (<file>): `.
    prefix: String,
    table: Table,
}

/// A span as read from the file; `None` where the value was invalid (already reported).
struct RawSpan {
    index: usize,
    from: Option<usize>,
    to: Option<usize>,
    length_km: Option<f64>,
    /// The scenario overrides, without the keys the route sets.
    overrides: Table,
    /// The span's validated scenario.
    scenario: Option<Scenario>,
}

/// What every span's scenario is built from.
struct SpanContext<'a> {
    /// The base scenario table (keys the route sets removed).
    base: &'a Table,
    /// The base's own messages, unprefixed (not repeated for spans).
    base_messages: &'a [String],
    /// Route name for the span scenarios' names (control characters escaped).
    route_name: &'a str,
    names: &'a HashMap<String, usize>,
    nodes: &'a [Option<Node>],
    duration_s: Option<f64>,
    seed: u64,
}

struct RawDemand {
    index: usize,
    from: Option<usize>,
    to: Option<usize>,
    rate_bps: Option<f64>,
}

/// Reads `base`: a file through `load_base`, or an inline table. A file that cannot be read
/// or is not TOML ends the parse (`RouteSyntax`); anything else is a violation.
fn load_base_table(
    root: &Table,
    origin: &str,
    load_base: &dyn Fn(&str) -> std::result::Result<String, String>,
    c: &mut Check,
) -> Result<Option<Base>> {
    const WHAT: &str = "a scenario file path relative to the route file (base = \
                        \"../scenario.toml\") or an inline [base] table holding scenario \
                        tables ([base.source], [base.detector], ...)";
    let (prefix, mut table) = match root.get("base") {
        None => {
            c.push(format!("base: missing field `base` (required: {WHAT})"));
            return Ok(None);
        }
        Some(Value::String(path)) if path.trim().is_empty() => {
            c.push(format!("base: must be {WHAT}, got \"\" (an empty path)"));
            return Ok(None);
        }
        Some(Value::String(path)) => {
            let text = load_base(path).map_err(|e| {
                Error::RouteSyntax(format!(
                    "{}: base = {}: cannot read the base scenario: {}",
                    escape_controls(origin),
                    fmt_text(path),
                    escape_terminal(e.trim_end())
                ))
            })?;
            let table: Table = toml::from_str(&text).map_err(|e| {
                Error::RouteSyntax(format!(
                    "{}: base scenario {}: {}",
                    escape_controls(origin),
                    fmt_text(path),
                    escape_terminal(e.to_string().trim_end())
                ))
            })?;
            (format!("base ({}): ", escape_controls(path)), table)
        }
        Some(Value::Table(t)) => ("base.".to_string(), t.clone()),
        Some(v) => {
            c.push(format!("base: must be {WHAT}, got {}", shown(v)));
            return Ok(None);
        }
    };
    if table.remove("sweep").is_some() {
        c.push(format!(
            "{prefix}sweep: a route's base scenario cannot have a [sweep] table (a route runs \
             each span once; sweep the scenario on its own with `qkdsim sweep`)"
        ));
    }
    // The route sets these for every span; the base's own values are replaced.
    if let Some(Value::Table(sim)) = table.get_mut("simulation") {
        for key in SPAN_SIMULATION_FIXED {
            sim.remove(*key);
        }
    }
    if let Some(Value::Table(link)) = table.get_mut("link") {
        link.remove("length_km");
    }
    Ok(Some(Base { prefix, table }))
}

/// Node names to indices (the first node of a name; duplicates are reported).
fn node_index(nodes: &[Option<Node>]) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(n) = n {
            map.entry(n.name.clone()).or_insert(i);
        }
    }
    map
}

/// Sets `table.<section>.<key> = value` when `section` is a table (or absent); a section of
/// the wrong type is left for the scenario's type pass to report.
fn set(table: &mut Table, section: &str, key: &str, value: Value) {
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    if let Value::Table(t) = entry {
        t.insert(key.to_string(), value);
    }
}

/// The dotted key path at the start of a scenario message (`link.length_km` of
/// `link.length_km: must be ...`).
fn message_path(m: &str) -> &str {
    let head = m.split(':').next().unwrap_or(m);
    head.split_whitespace().next().unwrap_or(head)
}

/// Every leaf key path of an override table (arrays are leaves: they replace).
fn leaf_paths(prefix: &str, t: &Table, out: &mut Vec<String>) {
    for (k, v) in t {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(sub) => leaf_paths(&path, sub, out),
            _ => out.push(path),
        }
    }
}

/// Is one of the two dotted paths the other or inside it?
fn overlaps(a: &str, b: &str) -> bool {
    a == b
        || (a.len() > b.len() && a.starts_with(b) && a.as_bytes()[b.len()] == b'.')
        || (b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'.')
}

/// A scenario message as a route reports it: the route has no `simulation.pulses`.
fn route_wording(m: &str) -> String {
    m.replace(", or give simulation.pulses instead", "")
}

/// The scenario's own range of `link.length_km` (`in [0, 10000]`), read back from its
/// checker so that the two cannot disagree.
fn length_rule() -> String {
    let mut t = Table::new();
    set(&mut t, "link", "length_km", Value::Float(-1e300));
    if let Err(Error::ScenarioInvalid(v)) = Scenario::from_table(t) {
        for m in v {
            if let Some(rest) = m.strip_prefix("link.length_km: must be ") {
                return rest.split(", got").next().unwrap_or(rest).to_string();
            }
        }
    }
    "in the scenario's range".into()
}

/// The scenario's top-level keys (tables a span may override), from the spec itself.
fn scenario_keys() -> Vec<String> {
    let spec: std::result::Result<ScenarioSpec, _> = toml::from_str("[link]\nlength_km = 0.0\n");
    match spec.ok().and_then(|s| Value::try_from(&s).ok()) {
        Some(Value::Table(t)) => t.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// A value as the user wrote it, for `got …`.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{} (a string)", fmt_text(s)),
        Value::Integer(i) => format!("{i} (an integer)"),
        Value::Float(f) => format!("{} (a float)", fmt_num(*f)),
        Value::Boolean(b) => format!("{b} (a boolean)"),
        Value::Datetime(d) => format!("{d} (a date-time)"),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Table(_) => "a table".into(),
    }
}

/// `"A", "B", "C"` (at most [`LISTED_NODES`] of them).
fn list_nodes(nodes: &[Option<Node>]) -> String {
    let names: Vec<String> = nodes.iter().flatten().map(|n| fmt_text(&n.name)).collect();
    if names.is_empty() {
        return "(none)".into();
    }
    let mut s = names
        .iter()
        .take(LISTED_NODES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED_NODES {
        s.push_str(&format!(" and {} more", names.len() - LISTED_NODES));
    }
    s
}

fn node_name(nodes: &[Option<Node>], i: usize) -> String {
    match nodes.get(i) {
        Some(Some(n)) => n.name.clone(),
        _ => format!("node {i}"),
    }
}

/// The violations found so far and the checks that add to them.
#[derive(Default)]
struct Check {
    out: Vec<String>,
}

impl Check {
    fn push(&mut self, m: String) {
        self.out.push(m);
    }

    /// `path.key: unknown field ...`, worded like the scenario's type pass.
    fn unknown(&mut self, path: &str, key: &str, known: &[&str]) {
        let full = if path.is_empty() {
            escape_controls(key)
        } else {
            format!("{path}.{}", escape_controls(key))
        };
        let mut known: Vec<&str> = known.to_vec();
        known.sort_unstable();
        self.push(format!(
            "{full}: unknown field `{}`, expected one of {} (unknown keys are errors: check the \
             spelling and the table it is in)",
            escape_controls(key),
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    /// A string without control characters (line feeds and tabs allowed if `multiline`).
    fn text(&mut self, path: &str, v: &Value, multiline: bool) -> Option<String> {
        let Value::String(s) = v else {
            self.push(format!("{path}: must be a string, got {}", shown(v)));
            return None;
        };
        let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t'));
        if let Some(ch) = s.chars().find(|&c| bad(c)) {
            self.push(format!(
                "{path}: must not contain control characters{}, got {} (contains {})",
                if multiline {
                    " other than line feeds and tabs"
                } else {
                    ""
                },
                fmt_text(s),
                ch.escape_default()
            ));
            return None;
        }
        Some(s.clone())
    }

    /// A name: a string, not blank, no control characters.
    fn name(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.text(path, v, false)?;
        if s.trim().is_empty() {
            self.push(format!("{path}: must not be empty, got {}", fmt_text(&s)));
            return None;
        }
        Some(s)
    }

    /// A number (TOML float or integer), not checked for range.
    fn number(&mut self, path: &str, v: &Value, what: &str) -> Option<f64> {
        match v {
            Value::Float(f) => Some(*f),
            Value::Integer(i) => Some(*i as f64),
            _ => {
                self.push(format!("{path}: must be {what}, got {}", shown(v)));
                None
            }
        }
    }

    /// A whole number under `rule`, named `path` in messages.
    fn whole(&mut self, rule: WholeRule, path: &str, v: &Value) -> Option<u64> {
        let checked = match v {
            Value::Integer(i) => rule.check_integer(path, *i),
            Value::Float(f) => rule.check(path, *f),
            _ => Err(format!(
                "{path}: must be a whole number in {} ({}), got {}",
                rule.range_text(),
                rule.what,
                shown(v)
            )),
        };
        match checked {
            Ok(n) => Some(n),
            Err(e) => {
                self.push(e);
                None
            }
        }
    }

    /// A table at `path` (`None` and a message if it is something else).
    fn table<'a>(&mut self, path: &str, v: &'a Value, what: &str) -> Option<&'a Table> {
        match v {
            Value::Table(t) => Some(t),
            _ => {
                self.push(format!("{path}: must be {what}, got {}", shown(v)));
                None
            }
        }
    }

    /// The items of an array of tables at `key`, at most `max` of them.
    fn array<'a>(&mut self, key: &str, v: Option<&'a Value>, max: usize) -> &'a [Value] {
        let Some(v) = v else {
            return &[];
        };
        let Value::Array(items) = v else {
            self.push(format!(
                "{key}: must be an array of tables ([[{key}]]), got {}",
                shown(v)
            ));
            return &[];
        };
        if items.len() > max {
            self.push(format!(
                "{key}: at most {max} are supported, got {} (only the first {max} are checked)",
                items.len()
            ));
            return &items[..max];
        }
        items
    }

    /// `[simulation]`: the duration (required, > 0) and the seed (default 1).
    fn simulation(&mut self, v: Option<&Value>) -> (Option<f64>, u64) {
        const DURATION: &str = "a number of seconds > 0 (the link time every span simulates)";
        let Some(v) = v else {
            self.push(format!(
                "simulation: missing table [simulation] (required: duration_s, {DURATION})"
            ));
            return (None, 1);
        };
        let Some(t) = self.table("simulation", v, "a table ([simulation])") else {
            return (None, 1);
        };
        for key in t.keys() {
            if !SIMULATION_KEYS.contains(&key.as_str()) {
                self.unknown("simulation", key, SIMULATION_KEYS);
            }
        }
        let duration = match t.get("duration_s") {
            None => {
                self.push(format!(
                    "simulation.duration_s: missing field `duration_s` (required: {DURATION})"
                ));
                None
            }
            Some(v) => match self.number("simulation.duration_s", v, DURATION) {
                Some(d) if d.is_finite() && d > 0.0 => Some(d),
                Some(d) => {
                    self.push(format!(
                        "simulation.duration_s: must be {DURATION}, got {}",
                        fmt_num(d)
                    ));
                    None
                }
                None => None,
            },
        };
        let seed = match t.get("seed") {
            None => Some(1),
            Some(v) => self.whole(SEED, "simulation.seed", v),
        };
        (duration, seed.unwrap_or(1))
    }

    /// `[relay]`: chunk and tag sizes, defaults from [`RelayParams::default`].
    fn relay(&mut self, v: Option<&Value>) -> RelayParams {
        let mut relay = RelayParams::default();
        let Some(v) = v else {
            return relay;
        };
        let Some(t) = self.table("relay", v, "a table ([relay])") else {
            return relay;
        };
        for (key, v) in t {
            match key.as_str() {
                "chunk_bits" => {
                    if let Some(n) = self.whole(CHUNK_BITS, CHUNK_BITS.key, v) {
                        relay.chunk_bits = n;
                    }
                }
                "auth_tag_bits" => {
                    if let Some(n) = self.whole(AUTH_TAG_BITS, AUTH_TAG_BITS.key, v) {
                        relay.auth_tag_bits = n;
                    }
                }
                "link_auth" => {
                    if let Some(name) = self.text("relay.link_auth", v, false) {
                        match LinkAuth::parse(&name) {
                            Some(a) => relay.link_auth = a,
                            None => self.push(format!(
                                "relay.link_auth: must be one of {}, got {}",
                                LinkAuth::NAMES
                                    .iter()
                                    .map(|n| format!("\"{n}\""))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                fmt_text(&name)
                            )),
                        }
                    }
                }
                _ => self.unknown("relay", key, RELAY_KEYS),
            }
        }
        relay
    }

    /// `[[nodes]]`, one entry per item (`None` where its name is invalid).
    fn nodes(&mut self, v: Option<&Value>) -> Vec<Option<Node>> {
        let items = self.array("nodes", v, MAX_NODES);
        if items.len() < 2 {
            self.push(format!(
                "nodes: a route needs at least two nodes ([[nodes]] name = \"...\"), got {}",
                items.len()
            ));
        }
        let mut nodes: Vec<Option<Node>> = Vec::with_capacity(items.len());
        let mut first: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("nodes[{i}]");
            let Some(t) = self.table(&path, item, "a table ([[nodes]])") else {
                nodes.push(None);
                continue;
            };
            for key in t.keys() {
                if !NODE_KEYS.contains(&key.as_str()) {
                    self.unknown(&path, key, NODE_KEYS);
                }
            }
            let name = match t.get("name") {
                None => {
                    self.push(format!(
                        "{path}.name: missing field `name` (required: the node's unique name)"
                    ));
                    None
                }
                Some(v) => self.name(&format!("{path}.name"), v),
            };
            if let Some(n) = &name {
                if let Some(&j) = first.get(n) {
                    self.push(format!(
                        "{path}.name: must be unique, got {} (also nodes[{j}].name)",
                        fmt_text(n)
                    ));
                } else {
                    first.insert(n.clone(), i);
                }
            }
            let mut coordinate = |key: &str, limit: f64| -> (bool, Option<f64>) {
                let Some(v) = t.get(key) else {
                    return (true, None);
                };
                let p = format!("{path}.{key}");
                let what = format!("a number of degrees in [-{limit}, {limit}]");
                match self.number(&p, v, &what) {
                    Some(x) if x.is_finite() && (-limit..=limit).contains(&x) => (true, Some(x)),
                    Some(x) => {
                        self.push(format!("{p}: must be {what}, got {}", fmt_num(x)));
                        (false, None)
                    }
                    None => (false, None),
                }
            };
            let (lat_ok, lat) = coordinate("lat", 90.0);
            let (lon_ok, lon) = coordinate("lon", 180.0);
            let mut position_ok = lat_ok && lon_ok;
            match (t.contains_key("lat"), t.contains_key("lon")) {
                (true, false) => {
                    self.push(format!(
                        "{path}.lon: missing field `lon` ({path}.lat is given: give both lat and \
                         lon, or neither)"
                    ));
                    position_ok = false;
                }
                (false, true) => {
                    self.push(format!(
                        "{path}.lat: missing field `lat` ({path}.lon is given: give both lat and \
                         lon, or neither)"
                    ));
                    position_ok = false;
                }
                _ => {}
            }
            let trusted = match t.get("trusted") {
                None => Some(true),
                Some(Value::Boolean(b)) => Some(*b),
                Some(v) => {
                    self.push(format!(
                        "{path}.trusted: must be true or false (default true: the node may relay \
                         keys), got {}",
                        shown(v)
                    ));
                    None
                }
            };
            // A node with a valid name keeps it (spans and demands can name it) even when
            // another of its fields is wrong: that one is reported, so no route is built.
            nodes.push(name.map(|name| Node {
                name,
                lat: lat.filter(|_| position_ok),
                lon: lon.filter(|_| position_ok),
                trusted: trusted.unwrap_or(true),
            }));
        }
        nodes
    }

    /// A node reference (`spans[i].from`, `demands[i].to`, ...).
    fn node_ref(
        &mut self,
        path: &str,
        v: Option<&Value>,
        names: &HashMap<String, usize>,
        nodes: &[Option<Node>],
    ) -> Option<usize> {
        let Some(v) = v else {
            self.push(format!(
                "{path}: missing field `{}` (required: a node name)",
                path.rsplit('.').next().unwrap_or(path)
            ));
            return None;
        };
        let Value::String(s) = v else {
            self.push(format!(
                "{path}: must be a node name (a string), got {}",
                shown(v)
            ));
            return None;
        };
        match names.get(s) {
            Some(&i) => Some(i),
            None => {
                self.push(format!(
                    "{path}: unknown node {}; nodes are {}",
                    fmt_text(s),
                    list_nodes(nodes)
                ));
                None
            }
        }
    }

    /// `[[spans]]`: ends, length, overrides.
    fn spans(&mut self, v: Option<&Value>, cx: &SpanContext) -> Vec<RawSpan> {
        let (names, nodes) = (cx.names, cx.nodes);
        let items = self.array("spans", v, MAX_SPANS);
        if items.is_empty() {
            self.push(
                "spans: a route needs at least one span ([[spans]] from = \"...\", to = \"...\", \
                 length_km = ...), got none"
                    .into(),
            );
        }
        let scenario_keys = scenario_keys();
        let mut allowed: Vec<&str> = SPAN_KEYS.to_vec();
        allowed.extend(
            scenario_keys
                .iter()
                .map(String::as_str)
                .filter(|k| !SPAN_FIXED.iter().any(|(f, _)| f == k)),
        );
        let mut spans = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("spans[{i}]");
            let mut span = RawSpan {
                index: i,
                from: None,
                to: None,
                length_km: None,
                overrides: Table::new(),
                scenario: None,
            };
            let Some(t) = self.table(&path, item, "a table ([[spans]])") else {
                spans.push(span);
                continue;
            };
            for (key, value) in t {
                if SPAN_KEYS.contains(&key.as_str()) {
                    continue;
                }
                if let Some((_, why)) = SPAN_FIXED.iter().find(|(f, _)| f == key) {
                    self.push(format!(
                        "{path}.{key}: a span may not set `{key}`: {why}; remove it"
                    ));
                } else if allowed.contains(&key.as_str()) {
                    span.overrides.insert(key.clone(), value.clone());
                } else {
                    self.unknown(&path, key, &allowed);
                }
            }
            if let Some(Value::Table(link)) = span.overrides.get_mut("link")
                && link.remove("length_km").is_some()
            {
                self.push(format!(
                    "{path}.link.length_km: a span's fibre length is {path}.length_km, not a \
                     scenario override; remove link.length_km"
                ));
            }
            if let Some(Value::Table(sim)) = span.overrides.get_mut("simulation") {
                for key in SPAN_SIMULATION_FIXED {
                    if sim.remove(*key).is_some() {
                        self.push(format!(
                            "{path}.simulation.{key}: set for every span by the route's \
                             [simulation] table (duration_s, seed); remove it from the span"
                        ));
                    }
                }
            }
            span.from = self.node_ref(&format!("{path}.from"), t.get("from"), names, nodes);
            span.to = self.node_ref(&format!("{path}.to"), t.get("to"), names, nodes);
            if let (Some(a), Some(b)) = (span.from, span.to)
                && a == b
            {
                self.push(format!(
                    "{path}.to: must differ from {path}.from (a span joins two different \
                     nodes), got {} for both",
                    fmt_text(&node_name(nodes, a))
                ));
                span.to = None;
            }
            span.length_km = match t.get("length_km") {
                None => {
                    self.push(format!(
                        "{path}.length_km: missing field `length_km` (required: the span's \
                         fibre length, a number of km {})",
                        length_rule()
                    ));
                    None
                }
                Some(Value::Float(f)) => Some(*f),
                Some(Value::Integer(n)) => Some(*n as f64),
                Some(v) => {
                    self.push(format!(
                        "{path}.length_km: must be a number of km {}, got {}",
                        length_rule(),
                        shown(v)
                    ));
                    None
                }
            };
            span.scenario = self.span_scenario(&span, cx);
            spans.push(span);
        }
        spans
    }

    /// `[[demands]]`: ends and rate.
    fn demands(
        &mut self,
        v: Option<&Value>,
        names: &HashMap<String, usize>,
        nodes: &[Option<Node>],
    ) -> Vec<RawDemand> {
        const RATE: &str = "a number of bits per second in (0, 1e12]";
        let items = self.array("demands", v, MAX_DEMANDS);
        let mut demands = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("demands[{i}]");
            let mut d = RawDemand {
                index: i,
                from: None,
                to: None,
                rate_bps: None,
            };
            let Some(t) = self.table(&path, item, "a table ([[demands]])") else {
                demands.push(d);
                continue;
            };
            for key in t.keys() {
                if !DEMAND_KEYS.contains(&key.as_str()) {
                    self.unknown(&path, key, DEMAND_KEYS);
                }
            }
            d.from = self.node_ref(&format!("{path}.from"), t.get("from"), names, nodes);
            d.to = self.node_ref(&format!("{path}.to"), t.get("to"), names, nodes);
            if let (Some(a), Some(b)) = (d.from, d.to)
                && a == b
            {
                self.push(format!(
                    "{path}.to: must differ from {path}.from (a demand joins two different \
                     nodes), got {} for both",
                    fmt_text(&node_name(nodes, a))
                ));
            }
            let rate_path = format!("{path}.rate_bps");
            d.rate_bps = match t.get("rate_bps") {
                None => {
                    self.push(format!(
                        "{rate_path}: missing field `rate_bps` (required: {RATE})"
                    ));
                    None
                }
                Some(v) => match self.number(&rate_path, v, RATE) {
                    Some(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE_BPS => Some(r),
                    Some(r) => {
                        self.push(format!("{rate_path}: must be {RATE}, got {}", fmt_num(r)));
                        None
                    }
                    None => None,
                },
            };
            demands.push(d);
        }
        demands
    }

    /// Checks the base on its own (at 0 km, with the route's duration) and reports its
    /// problems once with the base's prefix; a duration problem is the route's
    /// `simulation.duration_s`. Returns the messages unprefixed, so that spans do not
    /// repeat them.
    fn base_check(
        &mut self,
        base: &Base,
        route_name: &str,
        duration_s: Option<f64>,
        seed: u64,
    ) -> Vec<String> {
        let mut t = base.table.clone();
        prepare(
            &mut t,
            &format!("{route_name}: base"),
            0.0,
            duration_s,
            seed,
        );
        let messages = match Scenario::from_table(t) {
            Ok(_) => Vec::new(),
            Err(Error::ScenarioInvalid(v)) => v,
            Err(e) => vec![e.to_string()],
        };
        for m in &messages {
            if message_path(m) == "simulation.duration_s" {
                self.push(route_wording(m));
            } else {
                self.push(format!("{}{}", base.prefix, route_wording(m)));
            }
        }
        messages
    }

    /// The scenario of one span, or its violations prefixed with `spans[i].` (without the
    /// base's own, unless the span overrides the key they are about).
    fn span_scenario(&mut self, span: &RawSpan, cx: &SpanContext) -> Option<Scenario> {
        let (base, base_messages, route_name, nodes) =
            (cx.base, cx.base_messages, cx.route_name, cx.nodes);
        let (duration_s, seed) = (cx.duration_s, cx.seed);
        let i = span.index;
        let mut t = base.clone();
        merge(&mut t, &span.overrides);
        let from = span.from.map(|n| node_name(nodes, n));
        let to = span.to.map(|n| node_name(nodes, n));
        let label = format!(
            "{route_name}: span {i} ({} – {})",
            escape_controls(from.as_deref().unwrap_or("?")),
            escape_controls(to.as_deref().unwrap_or("?"))
        );
        // A length of the wrong type is reported already; 0 km stands in for it.
        prepare(
            &mut t,
            &label,
            span.length_km.unwrap_or(0.0),
            duration_s,
            seed,
        );
        let overrides_sites = span.overrides.contains_key("sites");
        if !overrides_sites && let Some(Value::Table(sites)) = t.get_mut("sites") {
            if let Some(a) = &from {
                sites.insert("alice".into(), Value::String(escape_controls(a)));
            }
            if let Some(b) = &to {
                sites.insert("bob".into(), Value::String(escape_controls(b)));
            }
        }
        let mut overridden = Vec::new();
        leaf_paths("", &span.overrides, &mut overridden);
        match Scenario::from_table(t) {
            Ok(s) => Some(s),
            Err(Error::ScenarioInvalid(v)) => {
                for m in v {
                    let path = message_path(&m);
                    let inherited =
                        base_messages.contains(&m) && !overridden.iter().any(|o| overlaps(o, path));
                    if inherited {
                        continue;
                    }
                    let m = route_wording(&m);
                    // The span's length is the user's `spans[i].length_km`.
                    let m = match m.strip_prefix("link.length_km:") {
                        Some(rest) => format!("length_km:{rest}"),
                        None => m,
                    };
                    self.push(format!("spans[{i}].{m}"));
                }
                None
            }
            Err(e) => {
                self.push(format!("spans[{i}]: {e}"));
                None
            }
        }
    }

    /// A demand whose ends no chain of trusted nodes joins.
    fn connectivity(
        &mut self,
        index: usize,
        from: usize,
        to: usize,
        topo: &Topology,
        nodes: &[Option<Node>],
    ) {
        if connected(topo, from, to) {
            return;
        }
        let a = fmt_text(&node_name(nodes, from));
        let b = fmt_text(&node_name(nodes, to));
        let all_trusted = Topology {
            trusted: vec![true; topo.nodes],
            ..topo.clone()
        };
        if connected(&all_trusted, from, to) {
            let untrusted: Vec<String> = (0..topo.nodes)
                .filter(|&n| n != from && n != to && !topo.trusted[n])
                .map(|n| fmt_text(&node_name(nodes, n)))
                .collect();
            self.push(format!(
                "demands[{index}]: no path from {a} to {b} through trusted nodes: every chain of \
                 spans between them passes an untrusted node ({}), and an untrusted node can \
                 only be a demand's end, never a relay",
                untrusted.join(", ")
            ));
        } else {
            self.push(format!(
                "demands[{index}]: {a} and {b} are not connected: no chain of spans joins them"
            ));
        }
    }
}

/// Sets what the route decides in a scenario table: name, length, duration, seed (and no
/// pulse count).
fn prepare(t: &mut Table, name: &str, length_km: f64, duration_s: Option<f64>, seed: u64) {
    t.insert("name".into(), Value::String(name.to_string()));
    set(t, "link", "length_km", Value::Float(length_km));
    if let Some(Value::Table(sim)) = t.get_mut("simulation") {
        for key in SPAN_SIMULATION_FIXED {
            sim.remove(*key);
        }
    }
    if let Some(d) = duration_s {
        set(t, "simulation", "duration_s", Value::Float(d));
    }
    // Seeds above i64::MAX are refused by the route's own check.
    set(
        t,
        "simulation",
        "seed",
        Value::Integer(i64::try_from(seed).unwrap_or(1)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn merge_is_deep_for_tables_and_replaces_everything_else() {
        let mut base = table(
            "[link]\nlength_km = 1.0\nextra_loss_db = 3.0\n[detector]\nefficiency = 0.8\n\
             [[source.intensities]]\nlabel = \"a\"\nmean_photon_number = 0.5\nprobability = 1.0\n\
             [[source.intensities]]\nlabel = \"b\"\nmean_photon_number = 0.1\nprobability = 0.0\n",
        );
        let over = table(
            "link.extra_loss_db = 4.0\n[[source.intensities]]\nlabel = \"c\"\n\
             mean_photon_number = 0.4\nprobability = 1.0\n",
        );
        merge(&mut base, &over);
        let link = base["link"].as_table().unwrap();
        assert_eq!(link["length_km"].as_float(), Some(1.0));
        assert_eq!(link["extra_loss_db"].as_float(), Some(4.0));
        assert_eq!(base["detector"]["efficiency"].as_float(), Some(0.8));
        let classes = base["source"]["intensities"].as_array().unwrap();
        assert_eq!(classes.len(), 1);
        assert_eq!(classes[0]["label"].as_str(), Some("c"));
        // A value replaces a table and the other way round.
        merge(&mut base, &table("detector = 5\n"));
        assert_eq!(base["detector"].as_integer(), Some(5));
    }

    #[test]
    fn paths_overlap_only_at_dots() {
        assert!(overlaps(
            "source.intensities",
            "source.intensities.0.probability"
        ));
        assert!(overlaps("link.extra_loss_db", "link.extra_loss_db"));
        assert!(!overlaps("link.extra", "link.extra_loss_db"));
        assert_eq!(message_path("link.length_km: must be"), "link.length_km");
        assert_eq!(message_path("sweep point 3 (x)"), "sweep");
    }

    #[test]
    fn the_length_rule_comes_from_the_scenario() {
        assert_eq!(length_rule(), "in [0, 10000]");
    }
}
