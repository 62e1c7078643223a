//! The one table of broker configuration keys: Kafka's own names, their
//! defaults and how each is validated. `server.properties` files and
//! `--override key=value` flags both go through [`BrokerConfig::set`].
//! Unknown keys get a warning; a bad value is an error naming the key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::listeners::Listener;

/// How a key's value is checked.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A whole number within [min, max].
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// Free text (listeners, paths).
    Text,
    /// Free text that may be empty: empty (or unset) turns its feature off.
    TextOrEmpty,
}

struct Key {
    name: &'static str,
    default: Option<&'static str>,
    kind: Kind,
    doc: &'static str,
}

const LONG: Kind = Kind::Int {
    min: -1,
    max: i64::MAX,
};
const POSITIVE: Kind = Kind::Int {
    min: 1,
    max: i64::MAX,
};

/// Every key Ringlog reads. Keys Kafka has and Ringlog ignores on purpose
/// (ZooKeeper, JMX) are in [`IGNORED_KEYS`].
const KEYS: &[Key] = &[
    Key {
        name: "node.id",
        default: Some("1"),
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        doc: "this broker's id (broker.id is an alias)",
    },
    Key {
        name: "broker.id",
        default: None,
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        doc: "alias of node.id",
    },
    Key {
        name: "listeners",
        default: Some("PLAINTEXT://127.0.0.1:9092"),
        kind: Kind::Text,
        doc: "where to listen",
    },
    Key {
        name: "advertised.listeners",
        default: None,
        kind: Kind::Text,
        doc: "what clients of each listener are told, by listener name (defaults to listeners)",
    },
    Key {
        name: "listener.security.protocol.map",
        default: Some(crate::listeners::DEFAULT_PROTOCOL_MAP),
        kind: Kind::Text,
        doc: "each listener name's security protocol; only PLAINTEXT is served yet",
    },
    Key {
        name: "log.dirs",
        default: Some("./ringlog-data"),
        kind: Kind::Text,
        doc: "data directory (the first of a comma list)",
    },
    Key {
        name: "log.dir",
        default: None,
        kind: Kind::Text,
        doc: "alias of log.dirs",
    },
    Key {
        name: "num.partitions",
        default: Some("1"),
        kind: POSITIVE,
        doc: "partitions of auto-created topics",
    },
    Key {
        name: "default.replication.factor",
        default: Some("1"),
        kind: POSITIVE,
        doc: "replication factor of auto-created topics",
    },
    Key {
        name: "auto.create.topics.enable",
        default: Some("true"),
        kind: Kind::Bool,
        doc: "create topics on first use",
    },
    Key {
        name: "delete.topic.enable",
        default: Some("true"),
        kind: Kind::Bool,
        doc: "allow DeleteTopics",
    },
    Key {
        name: "log.retention.hours",
        default: Some("168"),
        kind: LONG,
        doc: "retention by time, hours",
    },
    Key {
        name: "log.retention.minutes",
        default: None,
        kind: LONG,
        doc: "retention by time, minutes (wins over hours)",
    },
    Key {
        name: "log.retention.ms",
        default: None,
        kind: LONG,
        doc: "retention by time, ms (wins over minutes)",
    },
    Key {
        name: "log.retention.bytes",
        default: Some("-1"),
        kind: LONG,
        doc: "retention by size per partition",
    },
    Key {
        name: "log.segment.bytes",
        default: Some("1073741824"),
        kind: Kind::Int {
            min: 4096,
            max: i32::MAX as i64,
        },
        doc: "segment size",
    },
    Key {
        name: "log.roll.ms",
        default: None,
        kind: POSITIVE,
        doc: "segment age before a roll, ms",
    },
    Key {
        name: "log.roll.hours",
        default: Some("168"),
        kind: POSITIVE,
        doc: "segment age before a roll, hours",
    },
    Key {
        name: "message.max.bytes",
        default: Some("1048588"),
        kind: Kind::Int {
            min: 0,
            max: 64 * 1024 * 1024,
        },
        doc: "largest record batch",
    },
    Key {
        name: "socket.request.max.bytes",
        default: Some("104857600"),
        kind: Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        doc: "largest request",
    },
    Key {
        name: "queued.max.request.bytes",
        default: Some("-1"),
        kind: LONG,
        doc: "request bytes a shard holds in flight at once (-1: no bound); \
              a connection whose next request does not fit waits",
    },
    Key {
        name: "max.connections",
        default: Some("2147483647"),
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        doc: "open connections the broker accepts; new ones beyond are closed at once",
    },
    Key {
        name: "max.connections.per.ip",
        default: Some("2147483647"),
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        doc: "open connections from one address; new ones beyond are closed at once",
    },
    Key {
        name: "max.connections.per.ip.overrides",
        default: None,
        kind: Kind::Text,
        doc: "per-address limits that replace max.connections.per.ip: host:count,host:count",
    },
    Key {
        name: "connections.max.idle.ms",
        default: Some("600000"),
        kind: LONG,
        doc: "close a connection that sends no request for this long (-1: never)",
    },
    Key {
        name: "socket.send.timeout.ms",
        default: Some("30000"),
        kind: LONG,
        doc: "Ringlog's own: close a connection whose client takes none of an \
              answer for this long (-1: never)",
    },
    Key {
        name: "log.flush.interval.messages",
        default: None,
        kind: POSITIVE,
        doc: "fdatasync after this many records",
    },
    Key {
        name: "log.flush.interval.ms",
        default: None,
        kind: LONG,
        doc: "fdatasync data older than this",
    },
    Key {
        name: "admin.listener",
        default: None,
        kind: Kind::TextOrEmpty,
        doc: "host:port of the admin HTTP listener (/metrics, /v1/status, /v1/ready); \
              off when unset or empty",
    },
    Key {
        name: "num.shards",
        default: None,
        kind: Kind::Int { min: 1, max: 1024 },
        doc: "shards (threads); default one per core",
    },
];

/// Kafka keys that mean nothing to Ringlog: accepted silently.
const IGNORED_KEYS: &[&str] = &[
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "log.retention.check.interval.ms",
    "group.initial.rebalance.delay.ms",
    "zookeeper.connection.timeout.ms",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("line {line} of {path}: expected key=value, got {text:?}")]
    Syntax {
        path: String,
        line: usize,
        text: String,
    },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
}

#[derive(Debug, Clone, Default)]
pub struct BrokerConfig {
    values: BTreeMap<&'static str, String>,
    pub warnings: Vec<String>,
}

impl BrokerConfig {
    /// The embedded default: 127.0.0.1:9092, data in ./ringlog-data.
    pub fn embedded_default() -> BrokerConfig {
        BrokerConfig::default()
    }

    /// Sets one key, validating its value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let value = value.trim();
        if key == "zookeeper.connect" {
            self.warnings
                .push("zookeeper.connect is ignored: Ringlog needs no ZooKeeper".into());
            return Ok(());
        }
        if IGNORED_KEYS.contains(&key) {
            return Ok(());
        }
        let Some(spec) = KEYS.iter().find(|spec| spec.name == key) else {
            self.warnings
                .push(format!("unknown configuration key {key} (ignored)"));
            return Ok(());
        };
        let invalid = |reason: String| ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        };
        match spec.kind {
            Kind::Int { min, max } => {
                let number: i64 = value
                    .parse()
                    .map_err(|_| invalid("not a whole number".into()))?;
                if !(min..=max).contains(&number) {
                    return Err(invalid(format!("must be between {min} and {max}")));
                }
            }
            Kind::Bool => {
                if value != "true" && value != "false" {
                    return Err(invalid("must be true or false".into()));
                }
            }
            Kind::Text => {
                if value.is_empty() {
                    return Err(invalid("must not be empty".into()));
                }
            }
            Kind::TextOrEmpty => {}
        }
        self.values.insert(spec.name, value.to_string());
        Ok(())
    }

    /// Reads a Java-style properties file (key=value, # and ! comments).
    pub fn load_properties(&mut self, path: &std::path::Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((key, value)) = line.split_once(['=', ':']) else {
                return Err(ConfigError::Syntax {
                    path: path.display().to_string(),
                    line: number + 1,
                    text: line.to_string(),
                });
            };
            self.set(key.trim(), value)?;
        }
        Ok(())
    }

    fn raw(&self, key: &str) -> Option<&str> {
        if let Some(value) = self.values.get(key) {
            return Some(value);
        }
        KEYS.iter()
            .find(|spec| spec.name == key)
            .and_then(|spec| spec.default)
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.raw(key).and_then(|value| value.parse().ok())
    }

    pub fn node_id(&self) -> i32 {
        let explicit = self
            .values
            .get("node.id")
            .or_else(|| self.values.get("broker.id"));
        explicit.and_then(|value| value.parse().ok()).unwrap_or(1)
    }

    pub fn log_dir(&self) -> PathBuf {
        let dirs = self
            .values
            .get("log.dirs")
            .or_else(|| self.values.get("log.dir"))
            .map(String::as_str)
            .or(self.raw("log.dirs"))
            .unwrap_or("./ringlog-data");
        PathBuf::from(dirs.split(',').next().unwrap_or(dirs).trim())
    }

    /// Every dir of the log.dirs (or log.dir) comma list; the broker
    /// stores data in the first ([`BrokerConfig::log_dir`]).
    pub fn log_dirs(&self) -> Vec<PathBuf> {
        let dirs = self
            .values
            .get("log.dirs")
            .or_else(|| self.values.get("log.dir"))
            .map(String::as_str)
            .or(self.raw("log.dirs"))
            .unwrap_or("./ringlog-data");
        dirs.split(',')
            .map(str::trim)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .collect()
    }

    /// The admin HTTP listener's host and port (`host:port`, an
    /// `http://` prefix allowed); `None` when off (unset or empty).
    pub fn admin_listener(&self) -> Result<Option<(String, u16)>, ConfigError> {
        let key = "admin.listener";
        let value = match self.raw(key).map(str::trim) {
            None | Some("") => return Ok(None),
            Some(value) => value,
        };
        let invalid = |reason: &str| ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let address = value.strip_prefix("http://").unwrap_or(value);
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected host:port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| invalid("the port is not a number from 0 to 65535"))?;
        let host = match host.trim_matches(['[', ']']) {
            "" => "0.0.0.0",
            host => host,
        };
        Ok(Some((host.to_string(), port)))
    }

    /// Every listener, with what its clients are told; an error if one is
    /// malformed or cannot be served (see `listeners.rs`).
    pub fn listeners(&self) -> Result<Vec<Listener>, ConfigError> {
        let parsed = crate::listeners::parse(
            self.raw("listeners").unwrap_or_default(),
            self.values.get("advertised.listeners").map(String::as_str),
            self.raw("listener.security.protocol.map")
                .unwrap_or(crate::listeners::DEFAULT_PROTOCOL_MAP),
        )?;
        crate::listeners::servable(parsed)
    }

    /// Retention by time, ms: log.retention.ms, else minutes, else hours; -1 = forever.
    pub fn retention_ms(&self) -> Option<u64> {
        let ms = self
            .int("log.retention.ms")
            .or_else(|| {
                self.int("log.retention.minutes")
                    .map(|minutes| minutes * 60_000)
            })
            .or_else(|| {
                self.int("log.retention.hours")
                    .map(|hours| hours * 3_600_000)
            });
        ms.filter(|&ms| ms >= 0).map(|ms| ms as u64)
    }

    pub fn retention_bytes(&self) -> Option<u64> {
        self.int("log.retention.bytes")
            .filter(|&bytes| bytes >= 0)
            .map(|bytes| bytes as u64)
    }

    pub fn segment_bytes(&self) -> u64 {
        self.int("log.segment.bytes").unwrap_or(1 << 30) as u64
    }

    pub fn segment_ms(&self) -> u64 {
        self.int("log.roll.ms")
            .or_else(|| self.int("log.roll.hours").map(|hours| hours * 3_600_000))
            .unwrap_or(7 * 24 * 3_600_000) as u64
    }

    pub fn message_max_bytes(&self) -> usize {
        self.int("message.max.bytes").unwrap_or(1_048_588) as usize
    }

    pub fn socket_request_max_bytes(&self) -> usize {
        self.int("socket.request.max.bytes").unwrap_or(104_857_600) as usize
    }

    /// Checks what no single key can: rules between keys. Called once the
    /// whole configuration is read.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listeners()?;
        self.max_connections_per_ip_overrides()?;
        if let Some(budget) = self.queued_max_request_bytes() {
            let request_max = self.socket_request_max_bytes();
            if budget < request_max {
                return Err(ConfigError::Invalid {
                    key: "queued.max.request.bytes".into(),
                    value: budget.to_string(),
                    reason: format!(
                        "must be at least socket.request.max.bytes ({request_max}) \
                         or -1, or the largest request could never be read"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The request bytes a shard may hold in flight, if bounded.
    pub fn queued_max_request_bytes(&self) -> Option<usize> {
        self.int("queued.max.request.bytes")
            .filter(|&bytes| bytes > 0)
            .map(|bytes| bytes as usize)
    }

    pub fn max_connections(&self) -> usize {
        self.int("max.connections").unwrap_or(i32::MAX as i64) as usize
    }

    pub fn max_connections_per_ip(&self) -> usize {
        self.int("max.connections.per.ip")
            .unwrap_or(i32::MAX as i64) as usize
    }

    /// `max.connections.per.ip.overrides` as (host, limit) pairs; hosts
    /// are resolved when the broker starts.
    pub fn max_connections_per_ip_overrides(&self) -> Result<Vec<(String, usize)>, ConfigError> {
        let Some(value) = self.values.get("max.connections.per.ip.overrides") else {
            return Ok(Vec::new());
        };
        let invalid = |reason: String| ConfigError::Invalid {
            key: "max.connections.per.ip.overrides".into(),
            value: value.clone(),
            reason,
        };
        value
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (host, count) = entry
                    .rsplit_once(':')
                    .ok_or_else(|| invalid(format!("{entry:?}: expected host:count")))?;
                let count: u32 = count
                    .trim()
                    .parse()
                    .map_err(|_| invalid(format!("{entry:?}: the count is not a whole number")))?;
                let host = host.trim().trim_matches(['[', ']']);
                if host.is_empty() {
                    return Err(invalid(format!("{entry:?}: no host")));
                }
                Ok((host.to_string(), count as usize))
            })
            .collect()
    }

    /// How long a connection may send no request; None: for ever.
    pub fn connections_max_idle(&self) -> Option<std::time::Duration> {
        duration_ms(self.int("connections.max.idle.ms"))
    }

    /// How long a write may make no progress; None: for ever.
    pub fn socket_send_timeout(&self) -> Option<std::time::Duration> {
        duration_ms(self.int("socket.send.timeout.ms"))
    }

    pub fn flush_messages(&self) -> Option<u64> {
        self.int("log.flush.interval.messages")
            .map(|value| value as u64)
    }

    pub fn flush_ms(&self) -> Option<u64> {
        self.int("log.flush.interval.ms")
            .filter(|&ms| ms >= 0)
            .map(|ms| ms as u64)
    }

    pub fn num_partitions(&self) -> i32 {
        self.int("num.partitions").unwrap_or(1) as i32
    }

    pub fn default_replication_factor(&self) -> i16 {
        self.int("default.replication.factor").unwrap_or(1) as i16
    }

    pub fn auto_create_topics(&self) -> bool {
        self.raw("auto.create.topics.enable") == Some("true")
    }

    pub fn delete_topic_enable(&self) -> bool {
        self.raw("delete.topic.enable") == Some("true")
    }

    pub fn num_shards(&self) -> usize {
        self.int("num.shards")
            .map(|shards| shards as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |cores| cores.get()))
    }

    /// The engine settings every partition starts from.
    pub fn log_config(&self) -> engine::LogConfig {
        engine::LogConfig {
            segment_bytes: self.segment_bytes(),
            segment_ms: Some(self.segment_ms()),
            retention_ms: self.retention_ms(),
            retention_bytes: self.retention_bytes(),
            flush_messages: self.flush_messages(),
            flush_ms: self.flush_ms(),
            max_message_bytes: self.message_max_bytes(),
            ..engine::LogConfig::default()
        }
    }

    /// One line per key: name, value in force, and what it does.
    pub fn describe(&self) -> Vec<String> {
        KEYS.iter()
            .map(|spec| {
                let value = self.raw(spec.name).unwrap_or("(unset)");
                format!("{} = {} ({})", spec.name, value, spec.doc)
            })
            .collect()
    }

    /// Every key of the table with its value in force, as DescribeConfigs
    /// reports them. Aliases (broker.id, log.dir) carry a value only when
    /// set; node.id, log.dirs and num.shards report what the broker uses.
    pub fn entries(&self) -> Vec<ConfigEntry> {
        KEYS.iter()
            .map(|spec| {
                let value = match spec.name {
                    "node.id" => Some(self.node_id().to_string()),
                    "log.dirs" => Some(self.log_dir().display().to_string()),
                    "num.shards" => Some(self.num_shards().to_string()),
                    name => self.raw(name).map(str::to_string),
                };
                ConfigEntry {
                    name: spec.name,
                    value,
                    explicit: self.values.contains_key(spec.name),
                    default: spec.default,
                    kind: spec.kind,
                    doc: spec.doc,
                }
            })
            .collect()
    }

    /// One key of the table (see [`BrokerConfig::entries`]).
    pub fn entry(&self, name: &str) -> Option<ConfigEntry> {
        self.entries().into_iter().find(|entry| entry.name == name)
    }
}

/// A duration in ms; negative means none, and 0 is taken as 1 ms (a
/// deadline of zero would close every connection at once).
fn duration_ms(ms: Option<i64>) -> Option<std::time::Duration> {
    ms.filter(|&ms| ms >= 0)
        .map(|ms| std::time::Duration::from_millis(ms.max(1) as u64))
}

/// A broker key and the value in force.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: Option<String>,
    /// Set by server.properties or an override (else the default applies).
    pub explicit: bool,
    /// The table's default, if the key has one.
    pub default: Option<&'static str>,
    pub kind: Kind,
    pub doc: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_localhost_9092_and_ringlog_data() {
        let config = BrokerConfig::embedded_default();
        let listeners = config.listeners().unwrap();
        assert_eq!(listeners.len(), 1);
        assert_eq!(listeners[0].name, "PLAINTEXT");
        assert_eq!(
            (listeners[0].bind.host.as_str(), listeners[0].bind.port),
            ("127.0.0.1", 9092)
        );
        assert_eq!(config.log_dir(), PathBuf::from("./ringlog-data"));
        assert_eq!(config.retention_ms(), Some(168 * 3_600_000));
        assert_eq!(config.retention_bytes(), None);
    }

    #[test]
    fn seed_server_properties_load_with_warnings_for_zookeeper() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(
            &path,
            "broker.id = 1\nlog.dirs=/data/kafka\nzookeeper.connect=linux01:2181\nnum.partitions=2\n\
             log.retention.hours=168\ndelete.topic.enable=true\nlisteners=PLAINTEXT://10.0.0.1:9092\n\
             advertised.listeners=PLAINTEXT://10.0.0.1:9092\nfancy.unknown=1\n",
        )
        .unwrap();
        let mut config = BrokerConfig::default();
        config.load_properties(&path).unwrap();
        assert_eq!(config.node_id(), 1);
        assert_eq!(config.log_dir(), PathBuf::from("/data/kafka"));
        assert_eq!(config.num_partitions(), 2);
        assert_eq!(config.listeners().unwrap()[0].advertised.host, "10.0.0.1");
        assert!(config
            .warnings
            .iter()
            .any(|warning| warning.contains("ZooKeeper")));
        assert!(config
            .warnings
            .iter()
            .any(|warning| warning.contains("fancy.unknown")));
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut config = BrokerConfig::default();
        let error = config.set("num.partitions", "zero").unwrap_err();
        assert!(error.to_string().contains("num.partitions"), "{error}");
        let error = config.set("log.segment.bytes", "100").unwrap_err();
        assert!(error.to_string().contains("log.segment.bytes"), "{error}");
        let error = config.set("auto.create.topics.enable", "yes").unwrap_err();
        assert!(
            error.to_string().contains("auto.create.topics.enable"),
            "{error}"
        );
        config.set("log.retention.ms", "1000").unwrap();
        assert_eq!(config.retention_ms(), Some(1000));
        config
            .set(
                "max.connections.per.ip.overrides",
                "10.0.0.1:5, [::1]:0 ,broker2:7",
            )
            .unwrap();
        assert_eq!(
            config.max_connections_per_ip_overrides().unwrap(),
            [
                ("10.0.0.1".to_string(), 5),
                ("::1".to_string(), 0),
                ("broker2".to_string(), 7)
            ]
        );
        config
            .set("max.connections.per.ip.overrides", "10.0.0.1=5")
            .unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("max.connections.per.ip.overrides"),
            "{error}"
        );
        config
            .set("max.connections.per.ip.overrides", "10.0.0.1:5")
            .unwrap();
        config.set("queued.max.request.bytes", "1000").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("queued.max.request.bytes")
                && error.contains("socket.request.max.bytes"),
            "{error}"
        );
        config.set("socket.request.max.bytes", "1000").unwrap();
        config.validate().unwrap();
        config.set("listeners", "PLAINTEXT://:70000").unwrap();
        assert!(config
            .listeners()
            .unwrap_err()
            .to_string()
            .contains("listeners"));
    }
}
