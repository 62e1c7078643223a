//! Listeners as Kafka names them: `listeners` (where to listen),
//! `advertised.listeners` (what clients are told), matched by listener name,
//! and `listener.security.protocol.map` (each name's security protocol).
//!
//! ```text
//! listeners=PLAINTEXT://0.0.0.0:9092,INTERNAL://10.0.0.5:9094
//! listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT
//! advertised.listeners=PLAINTEXT://broker1.example:9092,INTERNAL://10.0.0.5:9094
//! ```
//!
//! Every listener is served, and a client is told the advertised endpoint
//! of the listener it connected to (the listener's own address when
//! `advertised.listeners` does not name it). Only PLAINTEXT can be served
//! today: a listener whose security protocol is SSL, SASL_PLAINTEXT or
//! SASL_SSL stops the broker at start with an error naming it, so a
//! secured server.properties never becomes an open plaintext port.

use crate::config::ConfigError;

/// Kafka's security protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn parse(name: &str) -> Option<SecurityProtocol> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// Kafka's default `listener.security.protocol.map`.
pub const DEFAULT_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// A host and port clients connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// One entry of `listeners`, with what clients of it are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The listener name, upper case (Kafka matches names so).
    pub name: String,
    pub protocol: SecurityProtocol,
    /// Where to listen (an empty host is every address, 0.0.0.0).
    pub bind: Endpoint,
    /// What Metadata, FindCoordinator and DescribeCluster answer on it.
    pub advertised: Endpoint,
}

/// Parses and checks the three keys together. `advertised` is `None` when
/// `advertised.listeners` is not set (each listener advertises itself).
pub fn parse(
    listeners: &str,
    advertised: Option<&str>,
    protocol_map: &str,
) -> Result<Vec<Listener>, ConfigError> {
    let map = parse_protocol_map(protocol_map)?;
    let mut out: Vec<Listener> = Vec::new();
    for (name, bind) in parse_list("listeners", listeners)? {
        let protocol = map
            .iter()
            .find(|(mapped, _)| *mapped == name)
            .map(|(_, protocol)| *protocol)
            .ok_or_else(|| {
                invalid(
                    "listeners",
                    listeners,
                    format!(
                        "listener {name} has no security protocol in \
                         listener.security.protocol.map ({protocol_map})"
                    ),
                )
            })?;
        if bind.port == 0 {
            return Err(invalid(
                "listeners",
                listeners,
                format!(
                    "listener {name}: port 0 is not supported (every shard binds the same port)"
                ),
            ));
        }
        if out.iter().any(|listener| listener.name == name) {
            return Err(invalid(
                "listeners",
                listeners,
                format!("listener {name} is named twice"),
            ));
        }
        if out.iter().any(|listener| listener.bind.port == bind.port) {
            return Err(invalid(
                "listeners",
                listeners,
                format!("port {} is used by two listeners", bind.port),
            ));
        }
        out.push(Listener {
            name,
            protocol,
            advertised: bind.clone(),
            bind,
        });
    }
    if out.is_empty() {
        return Err(invalid("listeners", listeners, "no listener".into()));
    }
    if let Some(advertised) = advertised {
        let mut seen: Vec<String> = Vec::new();
        for (name, endpoint) in parse_list("advertised.listeners", advertised)? {
            if seen.contains(&name) {
                return Err(invalid(
                    "advertised.listeners",
                    advertised,
                    format!("listener {name} is named twice"),
                ));
            }
            if endpoint.host.is_empty() || endpoint.host == "0.0.0.0" || endpoint.host == "::" {
                return Err(invalid(
                    "advertised.listeners",
                    advertised,
                    format!(
                        "listener {name}: clients cannot connect to {:?}",
                        endpoint.host
                    ),
                ));
            }
            let Some(listener) = out.iter_mut().find(|listener| listener.name == name) else {
                return Err(invalid(
                    "advertised.listeners",
                    advertised,
                    format!("listener {name} is not in listeners"),
                ));
            };
            listener.advertised = endpoint;
            seen.push(name);
        }
    }
    Ok(out)
}

/// The listeners Ringlog can serve, or an error naming the first it
/// cannot, with its security protocol.
pub fn servable(listeners: Vec<Listener>) -> Result<Vec<Listener>, ConfigError> {
    if let Some(secured) = listeners
        .iter()
        .find(|listener| listener.protocol != SecurityProtocol::Plaintext)
    {
        return Err(ConfigError::Invalid {
            key: "listeners".into(),
            value: format!(
                "{}://{}:{}",
                secured.name, secured.bind.host, secured.bind.port
            ),
            reason: format!(
                "listener {} uses security protocol {}, which Ringlog cannot serve yet \
                 (TLS and SASL are not built); it will not serve it as plaintext",
                secured.name,
                secured.protocol.name()
            ),
        });
    }
    Ok(listeners)
}

fn invalid(key: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason,
    }
}

/// `NAME://host:port` entries of a comma list, names upper-cased.
fn parse_list(key: &str, value: &str) -> Result<Vec<(String, Endpoint)>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, address) = entry.split_once("://").ok_or_else(|| {
                invalid(key, value, format!("{entry:?}: expected NAME://host:port"))
            })?;
            let (host, port) = address.rsplit_once(':').ok_or_else(|| {
                invalid(key, value, format!("{entry:?}: expected NAME://host:port"))
            })?;
            let port: u16 = port.parse().map_err(|_| {
                invalid(
                    key,
                    value,
                    format!("{entry:?}: the port is not a number from 0 to 65535"),
                )
            })?;
            if name.is_empty() {
                return Err(invalid(key, value, format!("{entry:?}: no listener name")));
            }
            let host = host.trim_matches(['[', ']']).to_string();
            Ok((name.to_ascii_uppercase(), Endpoint { host, port }))
        })
        .collect()
}

/// `NAME:PROTOCOL` pairs.
fn parse_protocol_map(value: &str) -> Result<Vec<(String, SecurityProtocol)>, ConfigError> {
    let key = "listener.security.protocol.map";
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, protocol) = entry
                .split_once(':')
                .ok_or_else(|| invalid(key, value, format!("{entry:?}: expected NAME:PROTOCOL")))?;
            let protocol = SecurityProtocol::parse(protocol.trim()).ok_or_else(|| {
                invalid(
                    key,
                    value,
                    format!(
                        "{entry:?}: the protocol is none of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
                    ),
                )
            })?;
            Ok((name.trim().to_ascii_uppercase(), protocol))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn advertised_listeners_match_by_name() {
        let listeners = parse(
            "PLAINTEXT://0.0.0.0:9092, internal://10.0.0.5:9094,EXTERNAL://:9095",
            Some("INTERNAL://10.0.0.5:9094,PLAINTEXT://broker1.example:9092"),
            "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        )
        .unwrap();
        assert_eq!(listeners.len(), 3);
        assert_eq!(listeners[0].name, "PLAINTEXT");
        assert_eq!(listeners[0].bind, endpoint("0.0.0.0", 9092));
        assert_eq!(listeners[0].advertised, endpoint("broker1.example", 9092));
        assert_eq!(listeners[1].name, "INTERNAL");
        assert_eq!(listeners[1].advertised, endpoint("10.0.0.5", 9094));
        // Not advertised: clients of it are told its own address.
        assert_eq!(listeners[2].bind, endpoint("", 9095));
        assert_eq!(listeners[2].advertised, endpoint("", 9095));
    }

    #[test]
    fn secured_listeners_are_refused_by_name_and_protocol() {
        for (listeners, map, name, protocol) in [
            (
                "SASL_SSL://:9093",
                DEFAULT_PROTOCOL_MAP,
                "SASL_SSL",
                "SASL_SSL",
            ),
            ("SSL://:9093", DEFAULT_PROTOCOL_MAP, "SSL", "SSL"),
            (
                "PLAINTEXT://:9092,SASL_PLAINTEXT://:9093",
                DEFAULT_PROTOCOL_MAP,
                "SASL_PLAINTEXT",
                "SASL_PLAINTEXT",
            ),
            (
                "PLAINTEXT://:9092,CLIENTS://:9093",
                "PLAINTEXT:PLAINTEXT,CLIENTS:SASL_SSL",
                "CLIENTS",
                "SASL_SSL",
            ),
        ] {
            let parsed = parse(listeners, None, map).unwrap();
            let error = servable(parsed).unwrap_err().to_string();
            assert!(
                error.contains(&format!(
                    "listener {name} uses security protocol {protocol}"
                )),
                "{error}"
            );
        }
        // A mapped name served as plaintext is what its operator asked for.
        let parsed = parse(
            "PLAINTEXT://:9092,INTERNAL://:9093",
            None,
            "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
        )
        .unwrap();
        assert_eq!(servable(parsed).unwrap().len(), 2);
    }

    #[test]
    fn mistakes_name_their_key() {
        for (listeners, advertised, map, key, words) in [
            (
                "INTERNAL://:9093",
                None,
                DEFAULT_PROTOCOL_MAP,
                "listeners",
                "no security protocol",
            ),
            (
                "PLAINTEXT://:9092,PLAINTEXT://:9093",
                None,
                DEFAULT_PROTOCOL_MAP,
                "listeners",
                "named twice",
            ),
            (
                "PLAINTEXT://a:9092,SSL://b:9092",
                None,
                DEFAULT_PROTOCOL_MAP,
                "listeners",
                "two listeners",
            ),
            (
                "PLAINTEXT://:0",
                None,
                DEFAULT_PROTOCOL_MAP,
                "listeners",
                "port 0",
            ),
            (
                "127.0.0.1:9092",
                None,
                DEFAULT_PROTOCOL_MAP,
                "listeners",
                "NAME://host:port",
            ),
            (
                "PLAINTEXT://:70000",
                None,
                DEFAULT_PROTOCOL_MAP,
                "listeners",
                "port",
            ),
            (
                "PLAINTEXT://:9092",
                Some("SSL://b:9093"),
                DEFAULT_PROTOCOL_MAP,
                "advertised.listeners",
                "not in listeners",
            ),
            (
                "PLAINTEXT://:9092",
                Some("PLAINTEXT://0.0.0.0:9092"),
                DEFAULT_PROTOCOL_MAP,
                "advertised.listeners",
                "cannot connect",
            ),
            (
                "PLAINTEXT://:9092",
                None,
                "PLAINTEXT:TLS",
                "listener.security.protocol.map",
                "none of",
            ),
        ] {
            let error = parse(listeners, advertised, map).unwrap_err().to_string();
            assert!(
                error.contains(key) && error.contains(words),
                "{listeners}: {error}"
            );
        }
    }
}
