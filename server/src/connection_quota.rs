//! Broker-wide connection limits, Kafka's `max.connections` and
//! `max.connections.per.ip`: a connection accepted beyond either is closed
//! at once, before anything is read from it, as Kafka closes it.
//!
//! `max.connections.per.ip.overrides` replaces the per-address limit for
//! the addresses it names (0 refuses every connection from one).
//!
//! The counts are the broker's, not a shard's: SO_REUSEPORT hashes
//! connections to shards, so one address's connections land on every
//! shard. This is the one piece of state the shards share, and only the
//! accept and close of a connection touch it (never a request): the total
//! is an atomic counter, and the per-address counts, kept only when
//! `max.connections.per.ip` is set, sit behind a mutex taken once per
//! accept and once per close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The broker's open connections against its limits.
#[derive(Debug)]
pub struct ConnectionQuotas {
    total_max: usize,
    /// `None`: no per-address limit, nothing is counted per address.
    per_ip_max: Option<usize>,
    /// Limits of their own for some addresses.
    per_ip_overrides: HashMap<IpAddr, usize>,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a new connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the broker holds max.connections={max} connections")]
    Broker { max: usize },
    #[error("{address} holds {key}={max} connections")]
    Address {
        address: IpAddr,
        max: usize,
        /// The key that set `max`: the default or an override.
        key: &'static str,
    },
}

/// An admitted connection's place in the counts, given back when dropped.
#[derive(Debug)]
pub struct Admitted {
    quotas: Arc<ConnectionQuotas>,
    address: Option<IpAddr>,
}

impl ConnectionQuotas {
    /// Limits of `total_max` connections, and `per_ip_max` from one address
    /// (`total_max` or more: no per-address limit) unless `per_ip_overrides`
    /// names the address.
    pub fn new(
        total_max: usize,
        per_ip_max: usize,
        per_ip_overrides: HashMap<IpAddr, usize>,
    ) -> Arc<ConnectionQuotas> {
        let counted = per_ip_max < total_max || !per_ip_overrides.is_empty();
        Arc::new(ConnectionQuotas {
            total_max,
            per_ip_max: counted.then_some(per_ip_max),
            per_ip_overrides,
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a new connection from `address`, or says which limit it is over.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admitted, Refused> {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.total_max).then_some(open + 1)
            });
        if admitted.is_err() {
            return Err(Refused::Broker {
                max: self.total_max,
            });
        }
        let Some(default_max) = self.per_ip_max else {
            return Ok(Admitted {
                quotas: self.clone(),
                address: None,
            });
        };
        let (per_ip_max, key) = match self.per_ip_overrides.get(&address) {
            Some(max) => (*max, "max.connections.per.ip.overrides"),
            None => (default_max, "max.connections.per.ip"),
        };
        let mut per_ip = self.per_ip.lock().expect("no panic while counting");
        let count = per_ip.entry(address).or_insert(0);
        if *count >= per_ip_max {
            drop(per_ip);
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Address {
                address,
                max: per_ip_max,
                key,
            });
        }
        *count += 1;
        Ok(Admitted {
            quotas: self.clone(),
            address: Some(address),
        })
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            let mut per_ip = self.quotas.per_ip.lock().expect("no panic while counting");
            if let Some(count) = per_ip.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    per_ip.remove(&address);
                }
            }
        }
        let before = self.quotas.open.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "a connection is counted once");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn each_limit_refuses_beyond_it_and_frees_on_close() {
        let quotas = ConnectionQuotas::new(3, 2, HashMap::new());
        let first = quotas.admit(A).unwrap();
        let _second = quotas.admit(A).unwrap();
        assert_eq!(
            quotas.admit(A).unwrap_err(),
            Refused::Address {
                address: A,
                max: 2,
                key: "max.connections.per.ip"
            }
        );
        let third = quotas.admit(B).unwrap();
        assert_eq!(quotas.admit(B).unwrap_err(), Refused::Broker { max: 3 });
        assert_eq!(quotas.open(), 3);
        drop(third);
        let _again = quotas.admit(B).unwrap();
        drop(first);
        let _back = quotas.admit(A).unwrap();
        assert_eq!(quotas.open(), 3);
    }

    #[test]
    fn an_override_replaces_the_per_address_limit_for_its_address() {
        let quotas = ConnectionQuotas::new(100, 1, HashMap::from([(B, 3), (A, 0)]));
        assert_eq!(
            quotas.admit(A).unwrap_err(),
            Refused::Address {
                address: A,
                max: 0,
                key: "max.connections.per.ip.overrides"
            }
        );
        let held: Vec<Admitted> = (0..3).map(|_| quotas.admit(B).unwrap()).collect();
        assert!(quotas.admit(B).is_err());
        let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 9));
        let _one = quotas.admit(other).unwrap();
        assert!(quotas.admit(other).is_err(), "the default limit of 1");
        drop(held);
    }

    #[test]
    fn without_a_per_address_limit_nothing_is_kept_per_address() {
        let quotas = ConnectionQuotas::new(usize::MAX, usize::MAX, HashMap::new());
        let held: Vec<Admitted> = (0..100).map(|_| quotas.admit(A).unwrap()).collect();
        assert!(quotas.per_ip.lock().unwrap().is_empty());
        assert_eq!(quotas.open(), 100);
        drop(held);
        assert_eq!(quotas.open(), 0);
    }
}
