//! The topic table: names, partition counts, ids and per-topic configs.
//!
//! Shard 0 is the controller: it alone changes the table, writes it to
//! `<log.dirs>/__ringlog_topics` (atomically), and sends each shard its own
//! copy; every shard reads metadata from its copy without locks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const TOPICS_FILE: &str = "__ringlog_topics";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    pub partitions: i32,
    pub topic_id: u128,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicTable {
    pub topics: BTreeMap<String, TopicMeta>,
}

/// Kafka's rule: 1 to 249 characters of [a-zA-Z0-9._-], not "." or "..".
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// A stable, unique-enough id: a hash of the name and the creation time.
pub fn new_topic_id(name: &str) -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for byte in name.bytes().chain(nanos.to_le_bytes()) {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013b);
    }
    hash
}

impl TopicTable {
    /// The name of the topic with `topic_id` (requests from Fetch v13 and
    /// Produce v13 name topics by id, KIP-516).
    pub fn name_of(&self, topic_id: u128) -> Option<&str> {
        self.topics
            .iter()
            .find(|(_, meta)| meta.topic_id == topic_id)
            .map(|(name, _)| name.as_str())
    }

    pub fn path(log_dir: &Path) -> PathBuf {
        log_dir.join(TOPICS_FILE)
    }

    /// One line per topic: `name<TAB>partitions<TAB>id-hex<TAB>k=v,k=v`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (name, meta) in &self.topics {
            let configs: Vec<String> = meta
                .configs
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            out.push_str(&format!(
                "{name}\t{}\t{:032x}\t{}\n",
                meta.partitions,
                meta.topic_id,
                configs.join(",")
            ));
        }
        out
    }

    pub fn decode(text: &str) -> Result<TopicTable, String> {
        let mut table = TopicTable::default();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let bad = || format!("line {} of the topic table is malformed", number + 1);
            if fields.len() != 4 || !valid_topic_name(fields[0]) {
                return Err(bad());
            }
            let partitions: i32 = fields[1].parse().map_err(|_| bad())?;
            let topic_id = u128::from_str_radix(fields[2], 16).map_err(|_| bad())?;
            let mut configs = BTreeMap::new();
            for pair in fields[3].split(',').filter(|pair| !pair.is_empty()) {
                let (key, value) = pair.split_once('=').ok_or_else(bad)?;
                configs.insert(key.to_string(), value.to_string());
            }
            table.topics.insert(
                fields[0].to_string(),
                TopicMeta {
                    partitions,
                    topic_id,
                    configs,
                },
            );
        }
        Ok(table)
    }

    pub fn load(log_dir: &Path) -> Result<TopicTable, String> {
        match std::fs::read_to_string(TopicTable::path(log_dir)) {
            Ok(text) => TopicTable::decode(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(TopicTable::default()),
            Err(error) => Err(format!("cannot read the topic table: {error}")),
        }
    }

    /// Writes the table durably (temp file, fsync, rename, fsync dir).
    /// Blocking: the controller runs it on the blocking pool.
    pub fn store_blocking(&self, log_dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let path = TopicTable::path(log_dir);
        let temporary = path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(self.encode().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(log_dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips_and_names_are_checked() {
        let mut table = TopicTable::default();
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "1000".to_string());
        table.topics.insert(
            "orders".into(),
            TopicMeta {
                partitions: 4,
                topic_id: 42,
                configs,
            },
        );
        table.topics.insert(
            "a.b_c-d".into(),
            TopicMeta {
                partitions: 1,
                topic_id: 7,
                configs: BTreeMap::new(),
            },
        );
        assert_eq!(TopicTable::decode(&table.encode()).unwrap(), table);
        assert!(valid_topic_name("wordcount"));
        assert!(!valid_topic_name("bad/name"));
        assert!(!valid_topic_name(".."));
        assert!(!valid_topic_name(&"x".repeat(250)));
        assert!(TopicTable::decode("x\tnotanumber\t0\t\n").is_err());
    }
}
