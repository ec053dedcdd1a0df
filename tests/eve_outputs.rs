//! Outputs of a run and a sweep under attack (`[adversary]`, issue 16): the table's
//! eavesdropper paragraph, `report.md`'s section, the `eve_*` CSV columns equal to the
//! JSON record, the `eve_keys` and `eve_vs_<param>` charts; and a scenario with
//! `attack = "none"` writes what the same scenario without the table writes.

use assert_cmd::Command;
use std::path::Path;

const PNS: &str = include_str!("../scenarios/eve-pns.toml");

/// A short SNSPD link with 1e4-bit blocks (every block's exact count of what Eve can compute
/// runs, the naive key's too), swept over the share of pulses attacked by
/// intercept-resend.
const IR_SWEEP: &str = r#"
name = "Eve sweep test link"
[source]
basis_z_probability = 0.77
[[source.intensities]]
label = "signal"
mean_photon_number = 0.45
probability = 0.25
[[source.intensities]]
label = "decoy"
mean_photon_number = 0.18
probability = 0.5
[[source.intensities]]
label = "vacuum"
mean_photon_number = 0.0002
probability = 0.25
[link]
length_km = 10.0
[receiver]
transmittance = 0.9
basis_z_probability = 0.77
[detector]
efficiency = 0.85
dark_count_probability = 1.0e-8
[postprocessing]
block_bits = 10000
[simulation]
seed = 3
pulses = 4.0e5
[adversary]
attack = "intercept_resend"
fraction = 0.0
[sweep]
param = "adversary.fraction"
values = [0.0, 0.2, 0.4]
"#;

struct Out {
    stdout: String,
}

fn qkdsim(dir: &Path, args: &[&str]) -> Out {
    let out = Command::cargo_bin("qkdsim")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// The header and the rows of a CSV file as maps from column to field.
fn csv_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            h.iter()
                .zip(rec.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A JSON number or null as the CSV field it becomes.
fn field(v: &serde_json::Value) -> String {
    if v.is_null() {
        String::new()
    } else {
        v.to_string()
    }
}

#[test]
fn run_under_pns_writes_the_eavesdropper_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pns.toml"), PNS).unwrap();
    let table = qkdsim(d, &["run", "pns.toml", "--pulses", "2e7", "--out", "out"]).stdout;
    assert!(
        table.contains("eavesdropper: photon-number splitting (PNS) on 100.00% of pulses"),
        "{table}"
    );
    assert!(table.contains("PNS tuning: Eve blocks single-photon pulses"));
    assert!(table.contains("sifted Z bits Eve knows:"));
    assert!(table.contains("naive key (every detection one photon):"));
    assert!(table.contains("blocks not counted:"));
    let out = d.join("out");
    let json: serde_json::Value = serde_json::from_str(&read(out.join("results.json"))).unwrap();
    let eve = &json["eve"];
    assert_eq!(eve["attack"], "pns");
    assert_eq!(json["naive_secret_bits"], eve["naive_secret_bits"]);
    assert_eq!(eve["final_key_bits"], json["secret_bits"]);
    // Every block reports Eve's knowledge too.
    assert!(
        json["per_block"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["eve"]["attack"] == "pns")
    );
    // The CSV columns carry the JSON record.
    let rows = csv_rows(&read(out.join("results.csv")));
    let row = &rows[0];
    for f in [
        "known_sifted_bits",
        "sifted_bits",
        "known_final_key_bits",
        "final_key_bits",
        "naive_known_final_key_bits",
        "blocks_not_counted",
        "exact_limit_bits",
    ] {
        assert_eq!(row[&format!("eve_{f}")], field(&eve[f]), "{f}");
    }
    assert_eq!(row["naive_secret_bits"], field(&json["naive_secret_bits"]));
    assert_eq!(row["eve_pns_matched"], eve["pns"]["matched"].to_string());
    assert_eq!(
        row["eve_pns_block_multi"].parse::<f64>().unwrap(),
        eve["pns"]["block_multi"].as_f64().unwrap()
    );
    for ext in ["png", "svg"] {
        assert!(
            out.join(format!("eve_keys.{ext}")).is_file(),
            "eve_keys.{ext}"
        );
    }
    let svg = read(out.join("eve_keys.svg"));
    assert!(svg.contains("decoy-state key:") && svg.contains("naive key:"));
    let md = read(out.join("report.md"));
    assert!(md.contains("## Eavesdropper\n"), "{md}");
    assert!(md.contains("| sifted Z bits Eve knows |"));
    assert!(md.contains("(eve_keys.png)"));
    // The theory lines are the honest link's, and say so.
    assert!(read(out.join("block_key.svg")).contains("honest link without Eve"));
}

#[test]
fn attack_none_writes_what_no_adversary_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = PNS.replace("[adversary]\nattack = \"pns\"\nfraction = 1.0\n", "");
    assert_ne!(plain, PNS);
    let none = PNS.replace("attack = \"pns\"", "attack = \"none\"");
    std::fs::write(d.join("plain.toml"), &plain).unwrap();
    std::fs::write(d.join("none.toml"), &none).unwrap();
    let args = |f: &'static str, o: &'static str| ["run", f, "--pulses", "1e7", "--out", o];
    let a = qkdsim(d, &args("plain.toml", "a")).stdout;
    let b = qkdsim(d, &args("none.toml", "b")).stdout;
    for (t, name) in [(&a, "plain"), (&b, "none")] {
        assert!(!t.contains("eavesdropper"), "{name}: {t}");
    }
    let names = |o: &str| {
        let mut v: Vec<String> = std::fs::read_dir(d.join(o))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("a"), names("b"));
    assert!(!names("a").iter().any(|n| n.starts_with("eve")));
    let strip = |o: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(&read(d.join(o).join("results.json"))).unwrap();
        fn strip(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    m.remove("timings");
                    m.values_mut().for_each(strip);
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        strip(&mut v);
        v
    };
    let ja = strip("a");
    assert_eq!(ja, strip("b"));
    assert!(ja.get("eve").is_none() && ja.get("naive_secret_bits").is_none());
    let header = |o: &str| {
        read(d.join(o).join("results.csv"))
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(header("a"), header("b"));
    assert!(!header("a").contains("eve_") && !header("a").contains("naive"));
    for o in ["a", "b"] {
        assert!(!read(d.join(o).join("report.md")).contains("Eavesdropper"));
        assert!(!read(d.join(o).join("block_key.svg")).contains("without Eve"));
    }
}

#[test]
fn sweep_over_the_attacked_share_has_eve_per_point_and_its_chart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ir.toml"), IR_SWEEP).unwrap();
    let table = qkdsim(d, &["sweep", "ir.toml", "--out", "out"]).stdout;
    assert!(table.contains("eavesdropper: intercept-resend"), "{table}");
    let out = d.join("out");
    let json: serde_json::Value = serde_json::from_str(&read(out.join("results.json"))).unwrap();
    let points = json["points"].as_array().unwrap();
    let rows = csv_rows(&read(out.join("results.csv")));
    assert_eq!(points.len(), 3);
    for ((p, row), f) in points.iter().zip(&rows).zip([0.0, 0.2, 0.4]) {
        assert_eq!(p["eve"]["fraction"].as_f64(), Some(f));
        assert_eq!(row["eve_fraction"].parse::<f64>().unwrap(), f);
        assert_eq!(
            row["eve_known_sifted_bits"],
            field(&p["eve"]["known_sifted_bits"])
        );
        assert_eq!(row["naive_secret_bits"], field(&p["naive_secret_bits"]));
        // No PNS, no PNS columns.
        assert!(!row.contains_key("eve_pns_matched"));
    }
    // Intercept-resend on a share f of pulses: Eve knows the sifted bits of the attacked
    // pulses where her basis was right, about f/2 of them; none without attacking.
    assert_eq!(points[0]["eve"]["known_sifted_bits"], 0);
    let share = |p: &serde_json::Value| {
        p["eve"]["known_sifted_bits"].as_f64().unwrap() / p["eve"]["sifted_bits"].as_f64().unwrap()
    };
    assert!(share(&points[2]) > share(&points[1]) && share(&points[1]) > 0.0);
    for ext in ["png", "svg"] {
        assert!(
            out.join(format!("eve_vs_adversary_fraction.{ext}"))
                .is_file()
        );
        // The usual charts against the attacked share, as for any key.
        assert!(out.join(format!("qber.{ext}")).is_file());
        assert!(out.join(format!("key_rate.{ext}")).is_file());
    }
    let svg = read(out.join("eve_vs_adversary_fraction.svg"));
    assert!(svg.contains("share of pulses Eve attacks"));
    assert!(svg.contains("naive key (every detection a single photon)"));
    let md = read(out.join("report.md"));
    assert!(md.contains("## Eavesdropper\n") && md.contains("(eve_vs_adversary_fraction.png)"));
}
