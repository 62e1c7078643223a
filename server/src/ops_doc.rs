//! Holds docs/operations.md to the code: its tables of metrics and of
//! broker config keys are generated from `admin::METRICS` and the config
//! table, between marker comments, and this test fails when they differ.
//! `RINGLOG_UPDATE_DOCS=1 cargo test -p ringlog --lib ops_doc` rewrites
//! them after a metric or a key is added.

use crate::admin::{MetricType, METRICS};
use crate::config::{BrokerConfig, Kind};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");

fn metrics_table() -> String {
    let mut out =
        String::from("| metric | type | labels | what it says |\n| --- | --- | --- | --- |\n");
    for family in METRICS {
        let kind = match family.kind {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram (seconds)",
        };
        let labels = if family.labels.is_empty() {
            "-".to_string()
        } else {
            family.labels.to_string()
        };
        out.push_str(&format!(
            "| `{}` | {kind} | {labels} | {} |\n",
            family.name,
            family.help.replace('|', "\\|")
        ));
    }
    out
}

fn kind_text(kind: Kind) -> String {
    match kind {
        Kind::Int { min, max } if max == i64::MAX => format!("integer ≥ {min}"),
        Kind::Int { min, max } => format!("integer {min} to {max}"),
        Kind::Bool => "true or false".into(),
        Kind::Text => "text".into(),
        Kind::TextOrEmpty => "text, empty = off".into(),
    }
}

fn config_table() -> String {
    let mut out =
        String::from("| key | default | values | what it does |\n| --- | --- | --- | --- |\n");
    for entry in BrokerConfig::embedded_default().entries() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            entry.name,
            entry
                .default
                .map_or("(none)".to_string(), |value| format!("`{value}`")),
            kind_text(entry.kind),
            entry.doc.replace('|', "\\|")
        ));
    }
    out
}

/// Replaces what lies between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
fn with_section(doc: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/operations.md lacks {begin}"))
        + begin.len();
    let stop = doc[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("docs/operations.md lacks {end}"))
        + start;
    format!("{}{body}{}", &doc[..start], &doc[stop..])
}

#[test]
fn operations_md_lists_every_metric_and_every_config_key() {
    let doc = std::fs::read_to_string(DOC).expect("docs/operations.md");
    let generated = with_section(&doc, "metrics", &metrics_table());
    let generated = with_section(&generated, "config-keys", &config_table());
    if std::env::var_os("RINGLOG_UPDATE_DOCS").is_some() {
        std::fs::write(DOC, &generated).unwrap();
        return;
    }
    assert!(
        generated == doc,
        "docs/operations.md's tables differ from the code: run \
         RINGLOG_UPDATE_DOCS=1 cargo test -p ringlog --lib ops_doc"
    );
}

/// The family an expression's metric name belongs to: histograms are
/// queried by their `_bucket`, `_sum` and `_count` series.
fn family_of(series: &str) -> Option<&'static str> {
    METRICS.iter().map(|family| family.name).find(|name| {
        series == *name
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| series.strip_suffix(suffix) == Some(*name))
    })
}

#[test]
fn the_grafana_dashboard_imports_and_charts_every_metric() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/grafana/ringlog.json");
    let text = std::fs::read_to_string(path).expect("docs/grafana/ringlog.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(dashboard["__inputs"][0]["pluginId"], "prometheus");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables
        .iter()
        .any(|variable| variable["type"] == "datasource" && variable["query"] == "prometheus"));
    let mut charted = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(panel["gridPos"]["w"].as_u64().unwrap() > 0);
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{expr}");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("ringlog_") {
                    let family = family_of(word)
                        .unwrap_or_else(|| panic!("{word} in {expr:?} is not a metric"));
                    charted.insert(family);
                }
            }
        }
    }
    let missing: Vec<_> = METRICS
        .iter()
        .map(|family| family.name)
        .filter(|name| !charted.contains(name))
        .collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
}
