//! The state machine against Kafka's rules, one scenario per test, with
//! time passed in by hand.

use super::*;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;

fn request(member_id: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|name| (name.to_string(), Bytes::from(format!("{name}-metadata"))))
            .collect(),
        require_known_member_id: true,
        supports_skip_assignment: false,
    }
}

fn ready<T>(mut receiver: oneshot::Receiver<T>) -> T {
    receiver
        .try_recv()
        .expect("not cancelled")
        .expect("answered")
}

fn pending<T: std::fmt::Debug>(receiver: &mut oneshot::Receiver<T>) {
    assert!(receiver.try_recv().expect("not cancelled").is_none());
}

fn now_outcome(step: JoinStep) -> JoinOutcome {
    match step {
        JoinStep::Now(outcome) => outcome,
        _ => panic!("expected an immediate answer"),
    }
}

fn waiting(step: JoinStep) -> oneshot::Receiver<JoinOutcome> {
    match step {
        JoinStep::Wait(receiver) => receiver,
        _ => panic!("expected to wait"),
    }
}

/// KIP-394: a first join gets MEMBER_ID_REQUIRED, the second joins.
fn join_new(group: &mut Group, protocols: &[&str], now: Instant) -> oneshot::Receiver<JoinOutcome> {
    let first = now_outcome(group.join(request("", protocols), now));
    assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
    assert!(!first.member_id.is_empty());
    waiting(group.join(request(&first.member_id, protocols), now))
}

fn sync(
    group: &mut Group,
    member_id: &str,
    generation_id: i32,
    assignments: &[(&str, &str)],
    now: Instant,
) -> SyncStep {
    group.sync(
        SyncRequest {
            generation_id,
            member_id: member_id.to_string(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: None,
            assignments: assignments
                .iter()
                .map(|(member, assignment)| {
                    (member.to_string(), Bytes::from(assignment.to_string()))
                })
                .collect(),
        },
        now,
    )
}

/// Completes a leader's SyncGroup as the coordinator does once stored.
fn store_and_answer(step: SyncStep) -> SyncOutcome {
    match step {
        SyncStep::WhenStored {
            waiters, leader, ..
        } => {
            for (waiter, outcome) in waiters {
                let _ = waiter.send(outcome);
            }
            ready(leader)
        }
        SyncStep::Now(outcome) => outcome,
        SyncStep::Wait(_) => panic!("the leader does not wait"),
    }
}

/// One member, Stable at generation 1 with assignment "a".
fn stable_single(now: Instant) -> (Group, String) {
    let mut group = Group::new("g".into());
    let joined = ready(join_new(&mut group, &["range"], now));
    assert_eq!(joined.error, None);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader_id, joined.member_id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    let member_id = joined.member_id;
    let synced = store_and_answer(sync(&mut group, &member_id, 1, &[(&member_id, "a")], now));
    assert_eq!(synced.error, None);
    assert_eq!(synced.assignment, Bytes::from("a"));
    assert_eq!(group.state, GroupState::Stable);
    assert!(group.take_metadata_record().is_some());
    (group, member_id)
}

#[test]
fn a_single_member_joins_syncs_and_is_stable() {
    let now = Instant::now();
    let (group, member_id) = stable_single(now);
    assert_eq!(group.generation_id, 1);
    assert_eq!(group.leader_id.as_deref(), Some(member_id.as_str()));
    let stored = group.stored_metadata.clone().unwrap();
    assert_eq!(stored.members[0].assignment, Bytes::from("a"));
    assert_eq!(
        stored.members[0].subscription,
        Bytes::from("range-metadata")
    );
}

#[test]
fn a_second_member_triggers_a_rebalance_and_followers_wait_for_the_leader() {
    let now = Instant::now();
    let (mut group, a) = stable_single(now);
    let mut b_join = join_new(&mut group, &["range"], now);
    pending(&mut b_join);
    assert_eq!(group.state, GroupState::PreparingRebalance);
    // A learns of the rebalance from its heartbeat and rejoins.
    assert_eq!(
        group.heartbeat(&a, None, 1, now),
        Err(ResponseError::RebalanceInProgress)
    );
    let a_join = ready(waiting(group.join(request(&a, &["range"]), now)));
    let b_join = ready(b_join);
    assert_eq!((a_join.generation_id, b_join.generation_id), (2, 2));
    assert_eq!(a_join.leader_id, a);
    assert_eq!(a_join.members.len(), 2, "the leader gets every member");
    assert!(b_join.members.is_empty());
    let b = b_join.member_id;
    // B syncs first and waits for the leader's assignment.
    let mut b_sync = match sync(&mut group, &b, 2, &[], now) {
        SyncStep::Wait(receiver) => receiver,
        _ => panic!("a follower waits"),
    };
    pending(&mut b_sync);
    assert_eq!(
        group.heartbeat(&b, None, 2, now),
        Ok(()),
        "heartbeats in CompletingRebalance are fine"
    );
    let a_sync = store_and_answer(sync(
        &mut group,
        &a,
        2,
        &[(&a, "p0,p1"), (&b, "p2,p3")],
        now,
    ));
    assert_eq!(a_sync.assignment, Bytes::from("p0,p1"));
    assert_eq!(ready(b_sync).assignment, Bytes::from("p2,p3"));
    assert_eq!(group.state, GroupState::Stable);
}

#[test]
fn members_that_do_not_rejoin_in_time_are_dropped() {
    let start = Instant::now();
    let (mut group, a) = stable_single(start);
    let b_join = join_new(&mut group, &["range"], start);
    // A keeps heartbeating but never rejoins.
    let later = start + Duration::from_millis(REBALANCE_MS as u64 / 2);
    assert_eq!(
        group.heartbeat(&a, None, 1, later),
        Err(ResponseError::RebalanceInProgress)
    );
    group.tick(later);
    assert_eq!(group.state, GroupState::PreparingRebalance);
    let after = start + Duration::from_millis(REBALANCE_MS as u64 + 1);
    group.tick(after);
    let b_join = ready(b_join);
    assert_eq!(b_join.generation_id, 2);
    assert_eq!(b_join.leader_id, b_join.member_id, "B leads: A is gone");
    assert!(!group.members.contains_key(&a));
    assert_eq!(
        group.heartbeat(&a, None, 1, after),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn an_expired_session_evicts_the_member_and_rebalances() {
    let start = Instant::now();
    let (mut group, a) = stable_single(start);
    let b_join = join_new(&mut group, &["range"], start);
    let a_join = ready(waiting(group.join(request(&a, &["range"]), start)));
    let b = ready(b_join).member_id;
    let a_sync = store_and_answer(sync(&mut group, &a, 2, &[(&a, "x"), (&b, "y")], start));
    assert_eq!(a_sync.error, None);
    let _ = a_join;
    // B goes quiet; A heartbeats.
    let mut now = start;
    for _ in 0..12 {
        now += Duration::from_secs(1);
        let _ = group.heartbeat(&a, None, group.generation_id, now);
        group.tick(now);
    }
    assert!(!group.members.contains_key(&b), "B's session expired");
    assert_eq!(group.state, GroupState::PreparingRebalance);
    let rejoined = ready(waiting(group.join(request(&a, &["range"]), now)));
    assert_eq!(rejoined.generation_id, 3);
    assert_eq!(rejoined.members.len(), 1);
}

#[test]
fn the_last_member_leaving_empties_the_group() {
    let now = Instant::now();
    let (mut group, a) = stable_single(now);
    assert_eq!(group.leave(&a, None, now), Ok(()));
    assert_eq!(group.state, GroupState::Empty);
    assert_eq!(group.generation_id, 2);
    let record = group.take_metadata_record().expect("Empty is stored");
    let LogRecord::Group {
        value: Some(value), ..
    } = record
    else {
        panic!("a group record");
    };
    assert!(value.members.is_empty());
    assert_eq!(
        group.leave(&a, None, now),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn sync_and_heartbeat_errors_are_kafkas() {
    let now = Instant::now();
    let (mut group, a) = stable_single(now);
    let check = |step: SyncStep| match step {
        SyncStep::Now(outcome) => outcome.error,
        _ => panic!("immediate"),
    };
    assert_eq!(
        check(sync(&mut group, &a, 7, &[], now)),
        Some(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        check(sync(&mut group, "nobody", 1, &[], now)),
        Some(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        group.heartbeat(&a, None, 0, now),
        Err(ResponseError::IllegalGeneration)
    );
    let _b = join_new(&mut group, &["range"], now);
    assert_eq!(
        check(sync(&mut group, &a, 1, &[], now)),
        Some(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn a_member_must_share_a_protocol() {
    let now = Instant::now();
    let (mut group, _) = stable_single(now);
    let refused = now_outcome(group.join(request("", &["sticky"]), now));
    assert_eq!(
        refused.error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    let mut wrong_type = request("", &["range"]);
    wrong_type.protocol_type = "connect".into();
    assert_eq!(
        now_outcome(group.join(wrong_type, now)).error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    let mut empty = Group::new("fresh".into());
    assert_eq!(
        now_outcome(empty.join(request("", &[]), now)).error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    assert!(empty.is_vacant());
}

#[test]
fn protocols_are_chosen_by_votes_among_shared_ones() {
    let now = Instant::now();
    let mut group = Group::new("g".into());
    let a = join_new(&mut group, &["roundrobin", "range"], now);
    let a = ready(a).member_id;
    let _ = store_and_answer(sync(&mut group, &a, 1, &[], now));
    let b = join_new(&mut group, &["range", "roundrobin"], now);
    let c = join_new(&mut group, &["range", "cooperative-sticky"], now);
    let a = ready(waiting(
        group.join(request(&a, &["roundrobin", "range"]), now),
    ));
    assert_eq!(a.protocol_name.as_deref(), Some("range"));
    assert_eq!(ready(b).protocol_name.as_deref(), Some("range"));
    assert_eq!(ready(c).generation_id, 2);
}

fn static_request(member_id: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        ..request(member_id, &["range"])
    }
}

#[test]
fn a_static_member_rejoins_without_a_rebalance() {
    let now = Instant::now();
    let mut group = Group::new("g".into());
    // Static members skip MEMBER_ID_REQUIRED.
    let first = ready(waiting(group.join(static_request("", "instance-1"), now)));
    let old_id = first.member_id;
    assert!(old_id.starts_with("instance-1-"));
    let _ = store_and_answer(sync(&mut group, &old_id, 1, &[(&old_id, "mine")], now));
    let _ = group.take_metadata_record();
    // The process restarts and joins with no member id.
    let rejoined = match group.join(static_request("", "instance-1"), now) {
        JoinStep::WhenStored(outcome) => outcome,
        _ => panic!("a known static member is answered at once"),
    };
    assert_eq!(rejoined.error, None);
    assert_eq!(rejoined.generation_id, 1, "no new generation");
    assert_ne!(rejoined.member_id, old_id);
    assert_eq!(rejoined.leader_id, old_id, "before v9 the old leader id");
    assert_eq!(group.state, GroupState::Stable);
    assert!(group.metadata_changed, "the new member id is stored");
    let new_id = rejoined.member_id;
    let step = group.sync(
        SyncRequest {
            generation_id: 1,
            member_id: new_id.clone(),
            group_instance_id: Some("instance-1".into()),
            protocol_type: None,
            protocol_name: None,
            assignments: Vec::new(),
        },
        now,
    );
    let SyncStep::Now(synced) = step else {
        panic!("Stable answers at once")
    };
    assert_eq!(synced.assignment, Bytes::from("mine"), "its old assignment");
    // The old incarnation is fenced.
    assert_eq!(
        group.heartbeat(&old_id, Some("instance-1"), 1, now),
        Err(ResponseError::FencedInstanceId)
    );
    assert_eq!(group.heartbeat(&new_id, Some("instance-1"), 1, now), Ok(()));
    // v9: the leader is told it leads and may skip the assignment.
    let mut v9 = static_request("", "instance-1");
    v9.supports_skip_assignment = true;
    let JoinStep::WhenStored(outcome) = group.join(v9, now) else {
        panic!("no rebalance");
    };
    assert!(outcome.skip_assignment);
    assert_eq!(outcome.leader_id, outcome.member_id);
    assert_eq!(outcome.members.len(), 1);
}

#[test]
fn simple_commits_need_an_empty_group_and_members_their_generation() {
    let now = Instant::now();
    let mut offsets_only = Group::new("assign-users".into());
    assert_eq!(offsets_only.validate_commit("", None, -1, now), Ok(()));
    let (mut group, a) = stable_single(now);
    assert_eq!(
        group.validate_commit("", None, -1, now),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(group.validate_commit(&a, None, 1, now), Ok(()));
    assert_eq!(
        group.validate_commit(&a, None, 0, now),
        Err(ResponseError::IllegalGeneration)
    );
    let b = join_new(&mut group, &["range"], now);
    // Preparing: still allowed (the heartbeat tells the member to rejoin).
    assert_eq!(group.validate_commit(&a, None, 1, now), Ok(()));
    let _ = ready(waiting(group.join(request(&a, &["range"]), now)));
    let _ = ready(b);
    assert_eq!(
        group.validate_commit(&a, None, 2, now),
        Err(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn stored_metadata_restores_a_stable_group() {
    let now = Instant::now();
    let (group, a) = stable_single(now);
    let value = group.metadata_value();
    let mut restored = Group::new("g".into());
    restored.restore(value.clone(), now);
    assert_eq!(restored.state, GroupState::Stable);
    assert_eq!(restored.generation_id, 1);
    assert_eq!(restored.metadata_value(), value);
    // The member carries on with its generation after a broker restart.
    assert_eq!(restored.heartbeat(&a, None, 1, now), Ok(()));
    let summary = restored.summary();
    assert_eq!(summary.members[0].assignment, Bytes::from("a"));
    // With nobody heartbeating, the session runs out.
    restored.tick(now + Duration::from_millis(SESSION_MS as u64 + 1));
    assert_eq!(restored.state, GroupState::Empty);
}

#[test]
fn pending_member_ids_expire() {
    let now = Instant::now();
    let mut group = Group::new("g".into());
    let first = now_outcome(group.join(request("", &["range"]), now));
    assert!(group.has_deadlines());
    group.tick(now + Duration::from_millis(SESSION_MS as u64 + 1));
    assert!(!group.has_deadlines());
    // An expired id is unknown now.
    let late = now_outcome(group.join(request(&first.member_id, &["range"]), now));
    assert_eq!(late.error, Some(ResponseError::UnknownMemberId));
}

#[test]
fn a_leader_that_never_syncs_is_removed() {
    let start = Instant::now();
    let mut group = Group::new("g".into());
    let a = ready(join_new(&mut group, &["range"], start)).member_id;
    assert_eq!(group.state, GroupState::CompletingRebalance);
    group.tick(start + Duration::from_millis(REBALANCE_MS as u64 + 1));
    assert!(!group.members.contains_key(&a));
    assert_eq!(group.state, GroupState::Empty);
}

#[test]
fn state_names_are_kafkas() {
    for state in GroupState::ALL {
        assert_eq!(GroupState::parse(&state.name().to_lowercase()), Some(state));
    }
    assert_eq!(GroupState::parse("Rebalancing"), None);
}
