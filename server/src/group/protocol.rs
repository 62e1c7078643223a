//! Protocol selection: which of the members' assignors (`range`,
//! `roundrobin`, `cooperative-sticky`, ...) a generation uses. Assignment
//! itself stays with the clients; the broker only picks the protocol every
//! member supports, by most-preferred votes, as Kafka does:
//!
//! ```text
//!   candidates = protocols every member lists
//!   each member votes for the first candidate in its own preference order
//!   the candidate with most votes wins; a tie goes to the one the longest
//!   standing member (first in member order) prefers
//! ```
//!
//! It also reads a consumer's subscription (ConsumerProtocolSubscription),
//! which only OffsetDelete needs: offsets of a topic the group consumes may
//! not be deleted.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

/// One member's protocols, most preferred first.
pub type Protocols = [(String, Bytes)];

/// The protocols every member supports, in the first member's order.
pub fn candidates(members: &[&Protocols]) -> Vec<String> {
    let Some(first) = members.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|(name, _)| name)
        .filter(|name| {
            members
                .iter()
                .all(|protocols| protocols.iter().any(|(other, _)| other == *name))
        })
        .cloned()
        .collect()
}

/// Whether a member with `protocols` can join members that support
/// `candidates`: it must share at least one of them.
pub fn compatible(candidates: &[String], protocols: &Protocols) -> bool {
    protocols
        .iter()
        .any(|(name, _)| candidates.iter().any(|candidate| candidate == name))
}

/// The protocol for the next generation; None if the members share none.
pub fn select(members: &[&Protocols]) -> Option<String> {
    let candidates = candidates(members);
    let mut votes = vec![0usize; candidates.len()];
    for protocols in members {
        if let Some(choice) = protocols
            .iter()
            .find_map(|(name, _)| candidates.iter().position(|candidate| candidate == name))
        {
            votes[choice] += 1;
        }
    }
    let most = *votes.iter().max()?;
    let tied: Vec<usize> = (0..candidates.len())
        .filter(|&index| votes[index] == most)
        .collect();
    // Ties: the first member's preference among the tied candidates.
    let first = members.first()?;
    first
        .iter()
        .find_map(|(name, _)| {
            tied.iter()
                .copied()
                .find(|&index| candidates[index] == *name)
        })
        .map(|index| candidates[index].clone())
}

/// The topics a consumer-protocol member subscribes to; None if the
/// metadata is not a ConsumerProtocolSubscription.
pub fn subscribed_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut bytes = Bytes::copy_from_slice(metadata);
    if bytes.remaining() < 2 {
        return None;
    }
    let version = bytes.get_i16();
    // Newer versions only add fields at the end: read them as the newest we know.
    let version = version.clamp(0, 3);
    let subscription = ConsumerProtocolSubscription::decode(&mut bytes, version).ok()?;
    Some(
        subscription
            .topics
            .iter()
            .map(|topic| topic.to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn protocols(names: &[&str]) -> Vec<(String, Bytes)> {
        names
            .iter()
            .map(|name| (name.to_string(), Bytes::new()))
            .collect()
    }

    #[test]
    fn the_shared_protocol_with_most_first_choices_wins() {
        let a = protocols(&["range", "roundrobin"]);
        let b = protocols(&["roundrobin", "range"]);
        let c = protocols(&["roundrobin", "cooperative-sticky", "range"]);
        assert_eq!(select(&[&a, &b, &c]).as_deref(), Some("roundrobin"));
        // A tie goes to the first member's preference.
        assert_eq!(select(&[&a, &b]).as_deref(), Some("range"));
        assert_eq!(select(&[&b, &a]).as_deref(), Some("roundrobin"));
        // Only what everyone supports is a candidate.
        let d = protocols(&["cooperative-sticky", "range"]);
        assert_eq!(select(&[&c, &d]).as_deref(), Some("cooperative-sticky"));
        assert_eq!(candidates(&[&a, &d]), vec!["range".to_string()]);
        let e = protocols(&["sticky"]);
        assert_eq!(select(&[&a, &e]), None);
        assert!(!compatible(&candidates(&[&a, &b]), &e));
        assert!(compatible(&candidates(&[&a, &b]), &d));
        assert_eq!(select(&[]), None);
    }

    #[test]
    fn reads_a_consumer_subscription() {
        let subscription = ConsumerProtocolSubscription::default().with_topics(vec![
            StrBytes::from_static_str("orders"),
            StrBytes::from_static_str("payments"),
        ]);
        for version in 0..=3i16 {
            let mut bytes = bytes::BytesMut::new();
            bytes.extend_from_slice(&version.to_be_bytes());
            subscription.encode(&mut bytes, version).unwrap();
            assert_eq!(
                subscribed_topics(&bytes),
                Some(vec!["orders".to_string(), "payments".to_string()])
            );
        }
        assert_eq!(subscribed_topics(&[0]), None);
        assert_eq!(subscribed_topics(&[0, 0, 0, 0, 0, 9]), None);
    }
}
