//! One group's membership state machine (Kafka's classic protocol).
//!
//! ```text
//!            join (new member)           all known members rejoined,
//!   Empty ─────────────────▶ Preparing ── or the rebalance timeout ──▶ Completing
//!     ▲                      Rebalance    passed: generation + 1,      Rebalance
//!     │ last member gone        ▲  ▲      JoinGroup answers sent           │
//!     │ (generation + 1)        │  │                                      │ leader's
//!     └─────────────────────────┘  │ join of a new member, leader          │ SyncGroup
//!                                  │ rejoin, changed metadata, leave,      ▼
//!                                  └── session expiry, sync timeout ──── Stable
//! ```
//!
//! Everything here is synchronous and does no I/O: a request's JoinGroup or
//! SyncGroup either gets its answer now or a receiver the state machine
//! completes later (when the rebalance completes, from another request or
//! the shard's timer). When the durable part of the group changes (a
//! completed rebalance, a static member's new id, the group turning Empty)
//! `metadata_changed` is set and the coordinator appends the group's record
//! in the same synchronous step, so the log's order is the memory's order.
//!
//! Shard contract: a `Group` lives in its coordinator shard's map and is
//! only touched there; the oneshot senders it holds answer requests that
//! other shards may be awaiting.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_channel::oneshot;
use kafka_protocol::ResponseError;

use super::limits::GROUP_MEMBERS_MAX;
use super::protocol;
use super::record::{GroupValue, LogRecord, MemberValue, OffsetValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub const ALL: [GroupState; 5] = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ];

    /// Kafka's names, as ListGroups and DescribeGroups report them.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// A state filter's name (ListGroups v4+), case-insensitive.
    pub fn parse(name: &str) -> Option<GroupState> {
        GroupState::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(name))
    }
}

/// A member as the leader sees it in its JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// What a JoinGroup gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    pub error: Option<ResponseError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    pub skip_assignment: bool,
    pub member_id: String,
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    pub fn failed(member_id: impl Into<String>, error: ResponseError) -> JoinOutcome {
        JoinOutcome {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            skip_assignment: false,
            member_id: member_id.into(),
            members: Vec::new(),
        }
    }
}

/// What a SyncGroup gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn failed(error: ResponseError) -> SyncOutcome {
        SyncOutcome {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Empty for a member joining for the first time.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a rejoining static leader may skip the assignment (KIP-814).
    pub supports_skip_assignment: bool,
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// How a JoinGroup is answered.
pub enum JoinStep {
    Now(JoinOutcome),
    /// When the rebalance completes.
    Wait(oneshot::Receiver<JoinOutcome>),
    /// Once the group's changed metadata is durable (a static member rejoined).
    WhenStored(JoinOutcome),
}

/// How a SyncGroup is answered.
pub enum SyncStep {
    Now(SyncOutcome),
    /// When the leader's SyncGroup arrives.
    Wait(oneshot::Receiver<SyncOutcome>),
    /// The leader's assignment completed the rebalance: once the group's
    /// metadata is durable, every waiting member (the leader included, its
    /// answer comes through `leader`) gets its assignment.
    WhenStored {
        generation_id: i32,
        waiters: Vec<(oneshot::Sender<SyncOutcome>, SyncOutcome)>,
        leader: oneshot::Receiver<SyncOutcome>,
    },
}

pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// Most preferred first.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    /// The session ends unless a heartbeat (or a join, sync or commit) comes first.
    session_deadline: Instant,
    /// Join order: leader fallback and protocol ties go to older members.
    joined_seq: u64,
}

impl Member {
    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    pub fn metadata(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|name| {
                self.protocols
                    .iter()
                    .find(|(candidate, _)| candidate == name)
            })
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    fn awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }

    /// Members waiting for a rebalance to complete are not expired.
    fn keep_alive(&self, now: Instant) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some() || now < self.session_deadline
    }

    fn touch(&mut self, now: Instant) {
        self.session_deadline = now + millis(self.session_timeout_ms);
    }
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSummary {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberSummary>,
}

pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    pub state_timestamp_ms: i64,
    /// Set by the first member to join; kept when the group empties.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation_id: i32,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id → its current member id (KIP-345).
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they rejoin (KIP-394).
    pending_members: HashMap<String, Instant>,
    /// Members that have not sent SyncGroup for the current generation.
    pending_sync: HashSet<String>,
    rebalance_deadline: Option<Instant>,
    sync_deadline: Option<Instant>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
    next_seq: u64,
    /// The durable metadata is stale: the coordinator appends a group record.
    pub metadata_changed: bool,
    /// The metadata last appended to (or read from) the log: what a
    /// snapshot writes, so a snapshot replays to exactly what the log said.
    pub stored_metadata: Option<GroupValue>,
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

pub fn now_ms() -> i64 {
    engine::TimestampMs::now().0
}

/// A fresh member id: `<client id or instance id>-<uuid>`, as Kafka makes them.
/// Unique within the process (a counter) and across restarts (the clock).
pub fn new_member_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in count.to_le_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    let id = (u128::from(nanos) << 64) | u128::from(hash ^ count);
    format!("{prefix}-{}", uuid::Uuid::from_u128(id).hyphenated())
}

impl Group {
    pub fn new(group_id: String) -> Group {
        Group {
            group_id,
            state: GroupState::Empty,
            state_timestamp_ms: now_ms(),
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: HashSet::new(),
            rebalance_deadline: None,
            sync_deadline: None,
            offsets: BTreeMap::new(),
            next_seq: 0,
            metadata_changed: false,
            stored_metadata: None,
        }
    }

    fn transition(&mut self, state: GroupState) {
        self.state = state;
        self.state_timestamp_ms = now_ms();
    }

    fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    /// Members in join order.
    fn members_in_order(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|member| member.joined_seq);
        members
    }

    fn all_protocols(&self) -> Vec<&protocol::Protocols> {
        self.members_in_order()
            .into_iter()
            .map(|member| member.protocols.as_slice())
            .collect()
    }

    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocol::compatible(&protocol::candidates(&self.all_protocols()), protocols)
    }

    fn rebalance_timeout(&self) -> Duration {
        millis(
            self.members
                .values()
                .map(|member| member.rebalance_timeout_ms)
                .max()
                .unwrap_or(0),
        )
    }

    /// Kafka's `acceptJoiningMember`: the group's size bound.
    fn accepts(&self, member_id: &str) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members
                    .get(member_id)
                    .is_some_and(Member::awaiting_join)
                    || self.members.values().filter(|m| m.awaiting_join()).count()
                        < GROUP_MEMBERS_MAX
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < GROUP_MEMBERS_MAX
            }
        }
    }

    /// Kafka's `validateCurrentMember`: a static instance must map to this
    /// member id (else FENCED_INSTANCE_ID), and the member must exist.
    fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = group_instance_id {
            match self.static_members.get(instance) {
                Some(current) if current != member_id => {
                    return Err(ResponseError::FencedInstanceId)
                }
                Some(_) => {}
                None => return Err(ResponseError::UnknownMemberId),
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    fn current_outcome(&self, member_id: &str, with_members: bool) -> JoinOutcome {
        JoinOutcome {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.joined_members()
            } else {
                Vec::new()
            },
        }
    }

    fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref();
        self.members_in_order()
            .into_iter()
            .map(|member| JoinedMember {
                member_id: member.member_id.clone(),
                group_instance_id: member.group_instance_id.clone(),
                metadata: member.metadata(protocol),
            })
            .collect()
    }

    // ---- JoinGroup ----

    pub fn join(&mut self, request: JoinRequest, now: Instant) -> JoinStep {
        if self.state == GroupState::Dead {
            return JoinStep::Now(JoinOutcome::failed(
                request.member_id,
                ResponseError::CoordinatorNotAvailable,
            ));
        }
        if !self.accepts(&request.member_id) {
            return JoinStep::Now(JoinOutcome::failed("", ResponseError::GroupMaxSizeReached));
        }
        if !self.supports(&request.protocol_type, &request.protocols) {
            return JoinStep::Now(JoinOutcome::failed(
                request.member_id,
                ResponseError::InconsistentGroupProtocol,
            ));
        }
        let step = if request.member_id.is_empty() {
            self.join_new(request, now)
        } else {
            self.join_known(request, now)
        };
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(now);
        }
        step
    }

    fn join_new(&mut self, request: JoinRequest, now: Instant) -> JoinStep {
        let prefix = request
            .group_instance_id
            .as_deref()
            .unwrap_or(&request.client_id);
        let member_id = new_member_id(prefix);
        match request.group_instance_id.clone() {
            Some(instance) => match self.static_members.get(&instance).cloned() {
                Some(old_member_id) => self.rejoin_static(old_member_id, member_id, request, now),
                None => self.add_member(member_id, request, now),
            },
            None if request.require_known_member_id => {
                let deadline = now + millis(request.session_timeout_ms);
                self.pending_members.insert(member_id.clone(), deadline);
                JoinStep::Now(JoinOutcome::failed(
                    member_id,
                    ResponseError::MemberIdRequired,
                ))
            }
            None => self.add_member(member_id, request, now),
        }
    }

    fn join_known(&mut self, request: JoinRequest, now: Instant) -> JoinStep {
        let member_id = request.member_id.clone();
        if self.pending_members.remove(&member_id).is_some() {
            return self.add_member(member_id, request, now);
        }
        if let Err(error) = self.validate_member(&member_id, request.group_instance_id.as_deref()) {
            return JoinStep::Now(JoinOutcome::failed(member_id, error));
        }
        let matches = self.members[&member_id].matches(&request.protocols);
        match self.state {
            GroupState::PreparingRebalance => {
                let receiver = self.update_member(&request, now);
                JoinStep::Wait(receiver)
            }
            GroupState::CompletingRebalance if matches => {
                // It may have missed the answer: the current generation again.
                let leader = self.is_leader(&member_id);
                JoinStep::Now(self.current_outcome(&member_id, leader))
            }
            GroupState::Stable if matches && !self.is_leader(&member_id) => {
                JoinStep::Now(self.current_outcome(&member_id, false))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                // Changed metadata, or the leader asking for a new assignment.
                let receiver = self.update_member(&request, now);
                self.prepare_rebalance(now);
                JoinStep::Wait(receiver)
            }
            GroupState::Empty | GroupState::Dead => JoinStep::Now(JoinOutcome::failed(
                member_id,
                ResponseError::UnknownMemberId,
            )),
        }
    }

    fn update_member(
        &mut self,
        request: &JoinRequest,
        now: Instant,
    ) -> oneshot::Receiver<JoinOutcome> {
        let (sender, receiver) = oneshot::channel();
        let member = self
            .members
            .get_mut(&request.member_id)
            .expect("validated by the caller");
        member.protocols = request.protocols.clone();
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.session_timeout_ms = request.session_timeout_ms;
        member.join_waiter = Some(sender);
        member.touch(now);
        receiver
    }

    fn add_member(&mut self, member_id: String, request: JoinRequest, now: Instant) -> JoinStep {
        let (sender, receiver) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        self.next_seq += 1;
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: request.group_instance_id,
            client_id: request.client_id,
            client_host: request.client_host,
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            protocols: request.protocols,
            assignment: Bytes::new(),
            join_waiter: Some(sender),
            sync_waiter: None,
            session_deadline: now + millis(request.session_timeout_ms),
            joined_seq: self.next_seq,
        };
        self.members.insert(member_id, member);
        self.maybe_prepare_rebalance(now);
        JoinStep::Wait(receiver)
    }

    /// A known group.instance.id joins with no member id: its new id
    /// replaces the old one. In a Stable group whose protocol would not
    /// change, there is no rebalance (KIP-345): the member gets the current
    /// generation back and its old assignment from SyncGroup.
    fn rejoin_static(
        &mut self,
        old_member_id: String,
        new_member_id: String,
        request: JoinRequest,
        now: Instant,
    ) -> JoinStep {
        let previous_leader = self.leader_id.clone().unwrap_or_default();
        let mut member = self
            .members
            .remove(&old_member_id)
            .expect("a static instance maps to a member");
        // The old incarnation's requests in flight are fenced.
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinOutcome::failed(
                old_member_id.clone(),
                ResponseError::FencedInstanceId,
            ));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncOutcome::failed(ResponseError::FencedInstanceId));
        }
        member.member_id = new_member_id.clone();
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        self.members.insert(new_member_id.clone(), member);
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), new_member_id.clone());
        }
        if self.pending_sync.remove(&old_member_id) {
            self.pending_sync.insert(new_member_id.clone());
        }
        if self.leader_id.as_deref() == Some(old_member_id.as_str()) {
            self.leader_id = Some(new_member_id.clone());
        }
        let mut request = request;
        request.member_id = new_member_id.clone();
        match self.state {
            GroupState::Stable => {
                let receiver = self.update_member(&request, now);
                let next_protocol = protocol::select(&self.all_protocols());
                if next_protocol != self.protocol_name {
                    self.prepare_rebalance(now);
                    return JoinStep::Wait(receiver);
                }
                // No rebalance: answer directly, not through the waiter.
                self.members
                    .get_mut(&new_member_id)
                    .expect("inserted above")
                    .join_waiter = None;
                self.metadata_changed = true;
                let is_leader = self.is_leader(&new_member_id);
                let outcome = if request.supports_skip_assignment {
                    JoinOutcome {
                        skip_assignment: is_leader,
                        ..self.current_outcome(&new_member_id, is_leader)
                    }
                } else {
                    // Before v9 the old leader id is returned, so a rejoining
                    // leader acts as a follower and keeps its assignment.
                    JoinOutcome {
                        leader_id: previous_leader,
                        ..self.current_outcome(&new_member_id, false)
                    }
                };
                JoinStep::WhenStored(outcome)
            }
            GroupState::CompletingRebalance => {
                // The leader may be assigning to the old id: rebalance.
                let receiver = self.update_member(&request, now);
                self.prepare_rebalance(now);
                JoinStep::Wait(receiver)
            }
            GroupState::PreparingRebalance => JoinStep::Wait(self.update_member(&request, now)),
            GroupState::Empty | GroupState::Dead => JoinStep::Now(JoinOutcome::failed(
                new_member_id,
                ResponseError::UnknownMemberId,
            )),
        }
    }

    // ---- Rebalancing ----

    fn maybe_prepare_rebalance(&mut self, now: Instant) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now);
        }
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_assignments(ResponseError::RebalanceInProgress);
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        tracing::debug!(
            group = %self.group_id,
            from = self.state.name(),
            generation = self.generation_id,
            "preparing a rebalance"
        );
        self.transition(GroupState::PreparingRebalance);
        self.rebalance_deadline = Some(now + self.rebalance_timeout());
        self.try_complete_join(now);
    }

    /// Clears every assignment and answers waiting SyncGroups with `error`.
    fn reset_assignments(&mut self, error: ResponseError) {
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncOutcome::failed(error));
            }
        }
    }

    fn try_complete_join(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.pending_members.is_empty()
            && self.members.values().all(Member::awaiting_join)
        {
            self.complete_join(now);
        }
    }

    /// Keeps the leader if it rejoined, else elects a member that did;
    /// false if no member rejoined.
    fn elect_joined_leader(&mut self) -> bool {
        if let Some(leader) = &self.leader_id {
            if self.members.get(leader).is_some_and(Member::awaiting_join) {
                return true;
            }
        }
        let joined = self
            .members_in_order()
            .into_iter()
            .find(|member| member.awaiting_join())
            .map(|member| member.member_id.clone());
        match joined {
            Some(member_id) => {
                self.leader_id = Some(member_id);
                true
            }
            None => false,
        }
    }

    /// The rebalance's join phase ends: members that did not rejoin go
    /// (static members stay, KIP-345), the generation advances, and every
    /// waiting JoinGroup is answered (the leader gets the member list).
    fn complete_join(&mut self, now: Instant) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|member| !member.awaiting_join() && member.group_instance_id.is_none())
            .map(|member| member.member_id.clone())
            .collect();
        for member_id in gone {
            self.remove_member(&member_id);
        }
        if !self.members.is_empty() && !self.elect_joined_leader() {
            // Only static members that have not rejoined: wait another
            // rebalance timeout while their sessions run out.
            self.rebalance_deadline = Some(now + self.rebalance_timeout());
            return;
        }
        self.generation_id += 1;
        self.rebalance_deadline = None;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader_id = None;
            self.transition(GroupState::Empty);
            self.metadata_changed = true;
            return;
        }
        self.protocol_name = protocol::select(&self.all_protocols());
        self.transition(GroupState::CompletingRebalance);
        tracing::info!(
            group = %self.group_id,
            generation = self.generation_id,
            members = self.members.len(),
            protocol = self.protocol_name.as_deref().unwrap_or(""),
            "rebalance: every member joined"
        );
        let everyone = self.joined_members();
        let leader_id = self.leader_id.clone().unwrap_or_default();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in ids {
            let outcome = JoinOutcome {
                members: if member_id == leader_id {
                    everyone.clone()
                } else {
                    Vec::new()
                },
                ..self.current_outcome(&member_id, false)
            };
            let member = self.members.get_mut(&member_id).expect("listed above");
            if let Some(waiter) = member.join_waiter.take() {
                let _ = waiter.send(outcome);
            }
            member.touch(now);
            self.pending_sync.insert(member_id);
        }
        self.sync_deadline = Some(now + self.rebalance_timeout());
    }

    /// Removes a member from the maps; the leader passes to the oldest
    /// remaining member.
    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(member_id);
        if self.is_leader(member_id) {
            self.leader_id = self
                .members_in_order()
                .first()
                .map(|member| member.member_id.clone());
        }
        Some(member)
    }

    /// Kafka's `removeMemberAndUpdateGroup`: the member's requests in
    /// flight get UNKNOWN_MEMBER_ID, and the group rebalances.
    fn remove_member_and_rebalance(&mut self, member_id: &str, now: Instant) {
        let Some(mut member) = self.remove_member(member_id) else {
            return;
        };
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinOutcome::failed("", ResponseError::UnknownMemberId));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncOutcome::failed(ResponseError::UnknownMemberId));
        }
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now),
            GroupState::PreparingRebalance => self.try_complete_join(now),
        }
    }

    // ---- SyncGroup, Heartbeat, LeaveGroup ----

    pub fn sync(&mut self, request: SyncRequest, now: Instant) -> SyncStep {
        if let Err(error) = self.validate_sync(&request) {
            return SyncStep::Now(SyncOutcome::failed(error));
        }
        let member_id = request.member_id.as_str();
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                SyncStep::Now(SyncOutcome::failed(ResponseError::UnknownMemberId))
            }
            GroupState::PreparingRebalance => {
                SyncStep::Now(SyncOutcome::failed(ResponseError::RebalanceInProgress))
            }
            GroupState::CompletingRebalance => {
                let (sender, receiver) = oneshot::channel();
                self.pending_sync.remove(member_id);
                let member = self.members.get_mut(member_id).expect("validated");
                member.sync_waiter = Some(sender);
                member.touch(now);
                if !self.is_leader(member_id) {
                    return SyncStep::Wait(receiver);
                }
                self.complete_sync(request.assignments, receiver)
            }
            GroupState::Stable => {
                self.pending_sync.remove(member_id);
                let member = self.members.get_mut(member_id).expect("validated");
                member.touch(now);
                SyncStep::Now(SyncOutcome {
                    error: None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment: member.assignment.clone(),
                })
            }
        }
    }

    fn validate_sync(&self, request: &SyncRequest) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        self.validate_member(&request.member_id, request.group_instance_id.as_deref())?;
        if request.generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        if request
            .protocol_type
            .as_ref()
            .is_some_and(|wanted| self.protocol_type.as_ref() != Some(wanted))
            || request
                .protocol_name
                .as_ref()
                .is_some_and(|wanted| self.protocol_name.as_ref() != Some(wanted))
        {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    /// The leader's assignments: every member gets its own (an empty one
    /// if the leader left it out), the group is Stable, and the answers go
    /// out once the metadata record is durable.
    fn complete_sync(
        &mut self,
        assignments: Vec<(String, Bytes)>,
        leader: oneshot::Receiver<SyncOutcome>,
    ) -> SyncStep {
        let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
        let mut waiters = Vec::new();
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.member_id).unwrap_or_default();
            if let Some(waiter) = member.sync_waiter.take() {
                waiters.push((
                    waiter,
                    SyncOutcome {
                        error: None,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol_name.clone(),
                        assignment: member.assignment.clone(),
                    },
                ));
            }
        }
        self.transition(GroupState::Stable);
        tracing::debug!(group = %self.group_id, generation = self.generation_id, "stable");
        self.metadata_changed = true;
        SyncStep::WhenStored {
            generation_id: self.generation_id,
            waiters,
            leader,
        }
    }

    /// Storing the completed rebalance failed: if nothing moved on since,
    /// the group rebalances again.
    pub fn store_failed(&mut self, generation_id: i32, now: Instant) {
        if self.generation_id == generation_id && self.state == GroupState::Stable {
            self.prepare_rebalance(now);
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        self.validate_member(member_id, group_instance_id)?;
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        let state = self.state;
        let member = self.members.get_mut(member_id).expect("validated");
        match state {
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                member.touch(now);
                Err(ResponseError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.touch(now);
                Ok(())
            }
        }
    }

    /// One member of a LeaveGroup. With no member id, the instance id
    /// names it (an administrator removing a static member).
    pub fn leave(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if member_id.is_empty() {
            let current = group_instance_id
                .and_then(|instance| self.static_members.get(instance))
                .cloned()
                .ok_or(ResponseError::UnknownMemberId)?;
            self.remove_member_and_rebalance(&current, now);
            return Ok(());
        }
        if self.pending_members.remove(member_id).is_some() {
            self.try_complete_join(now);
            return Ok(());
        }
        self.validate_member(member_id, group_instance_id)?;
        self.remove_member_and_rebalance(member_id, now);
        Ok(())
    }

    // ---- Offsets ----

    /// May this member commit offsets now? A group that only stores
    /// offsets (Empty, generation -1, no member id: consumers using
    /// assign()) always may.
    pub fn validate_commit(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if let Some(instance) = group_instance_id {
            if self
                .static_members
                .get(instance)
                .is_some_and(|current| current != member_id)
            {
                return Err(ResponseError::FencedInstanceId);
            }
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        match self.state {
            GroupState::Stable | GroupState::PreparingRebalance => {
                self.members
                    .get_mut(member_id)
                    .expect("checked above")
                    .touch(now);
                Ok(())
            }
            GroupState::CompletingRebalance => Err(ResponseError::RebalanceInProgress),
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
        }
    }

    /// The topics the members subscribe to, if the group uses the consumer
    /// protocol and every subscription parses; None means "assume all".
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for member in self.members.values() {
            topics.extend(protocol::subscribed_topics(
                &member.metadata(Some(protocol)),
            )?);
        }
        Some(topics)
    }

    // ---- Timers ----

    /// Expires sessions, pending member ids, rebalance and sync deadlines.
    pub fn tick(&mut self, now: Instant) {
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(member_id, _)| member_id.clone())
            .collect();
        for member_id in &expired_pending {
            self.pending_members.remove(member_id);
        }
        if !expired_pending.is_empty() {
            self.try_complete_join(now);
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|member| !member.keep_alive(now))
            .map(|member| member.member_id.clone())
            .collect();
        for member_id in expired {
            tracing::info!(
                group = %self.group_id,
                member = %member_id,
                "session expired: removing the member"
            );
            self.remove_member_and_rebalance(&member_id, now);
        }
        if self.state == GroupState::PreparingRebalance
            && self
                .rebalance_deadline
                .is_some_and(|deadline| deadline <= now)
        {
            self.complete_join(now);
        }
        if matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) && self.sync_deadline.is_some_and(|deadline| deadline <= now)
        {
            self.sync_deadline = None;
            let unsynced: Vec<String> = self.pending_sync.drain().collect();
            if !unsynced.is_empty() {
                for member_id in &unsynced {
                    if let Some(mut member) = self.remove_member(member_id) {
                        if let Some(waiter) = member.join_waiter.take() {
                            let _ = waiter
                                .send(JoinOutcome::failed("", ResponseError::UnknownMemberId));
                        }
                    }
                }
                self.prepare_rebalance(now);
            }
        }
    }

    /// Whether the timer has anything to look at.
    pub fn has_deadlines(&self) -> bool {
        !self.members.is_empty() || !self.pending_members.is_empty()
    }

    // ---- Durable form ----

    pub fn metadata_value(&self) -> GroupValue {
        let protocol = self.protocol_name.as_deref();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members_in_order()
                .into_iter()
                .map(|member| MemberValue {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    rebalance_timeout_ms: member.rebalance_timeout_ms,
                    session_timeout_ms: member.session_timeout_ms,
                    subscription: member.metadata(protocol),
                    assignment: member.assignment.clone(),
                })
                .collect(),
        }
    }

    /// The group record to append if the durable metadata changed.
    pub fn take_metadata_record(&mut self) -> Option<LogRecord> {
        if !self.metadata_changed {
            return None;
        }
        self.metadata_changed = false;
        let value = self.metadata_value();
        self.stored_metadata = Some(value.clone());
        Some(LogRecord::Group {
            group_id: self.group_id.clone(),
            value: Some(value),
        })
    }

    /// A group with nothing to remember: no members, no pending member
    /// ids, no offsets, never stored. A failed first join leaves no trace.
    pub fn is_vacant(&self) -> bool {
        self.members.is_empty()
            && self.pending_members.is_empty()
            && self.offsets.is_empty()
            && self.stored_metadata.is_none()
            && !self.metadata_changed
    }

    /// Takes the stored metadata (loading): Stable with its members, whose
    /// sessions start now, or Empty. Offsets are kept.
    pub fn restore(&mut self, value: GroupValue, now: Instant) {
        self.stored_metadata = Some(value.clone());
        self.protocol_type = Some(value.protocol_type).filter(|name| !name.is_empty());
        self.generation_id = value.generation_id;
        self.protocol_name = value.protocol_name;
        self.leader_id = value.leader_id;
        self.state_timestamp_ms = value.state_timestamp_ms;
        self.members.clear();
        self.static_members.clear();
        self.pending_members.clear();
        self.pending_sync.clear();
        self.rebalance_deadline = None;
        self.sync_deadline = None;
        for stored in value.members {
            self.next_seq += 1;
            if let Some(instance) = &stored.group_instance_id {
                self.static_members
                    .insert(instance.clone(), stored.member_id.clone());
            }
            let protocols = match &self.protocol_name {
                Some(name) => vec![(name.clone(), stored.subscription)],
                None => Vec::new(),
            };
            let member = Member {
                member_id: stored.member_id.clone(),
                group_instance_id: stored.group_instance_id,
                client_id: stored.client_id,
                client_host: stored.client_host,
                session_timeout_ms: stored.session_timeout_ms,
                rebalance_timeout_ms: stored.rebalance_timeout_ms,
                protocols,
                assignment: stored.assignment,
                join_waiter: None,
                sync_waiter: None,
                session_deadline: now + millis(stored.session_timeout_ms),
                joined_seq: self.next_seq,
            };
            self.members.insert(stored.member_id, member);
        }
        if self
            .leader_id
            .as_ref()
            .is_some_and(|leader| !self.members.contains_key(leader))
        {
            self.leader_id = self
                .members_in_order()
                .first()
                .map(|member| member.member_id.clone());
        }
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.metadata_changed = false;
    }

    pub fn summary(&self) -> GroupSummary {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.as_deref();
        GroupSummary {
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_name: self.protocol_name.clone().unwrap_or_default(),
            members: self
                .members_in_order()
                .into_iter()
                .map(|member| MemberSummary {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    // Kafka shows metadata and assignments of Stable groups only.
                    metadata: if stable {
                        member.metadata(protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        member.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// Dead: deleted. Waiting requests are told to find the coordinator again.
    pub fn mark_dead(&mut self) {
        for member in self.members.values_mut() {
            if let Some(waiter) = member.join_waiter.take() {
                let _ = waiter.send(JoinOutcome::failed(
                    member.member_id.clone(),
                    ResponseError::CoordinatorNotAvailable,
                ));
            }
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncOutcome::failed(ResponseError::CoordinatorNotAvailable));
            }
        }
        self.transition(GroupState::Dead);
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
