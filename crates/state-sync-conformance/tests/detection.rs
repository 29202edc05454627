//! Detection power: deliberately broken variations of the in-memory
//! transport must each fail at least one spec (the reference transports
//! pass them all: `tests/conformance.rs`). A scenario suite that a broken transport passes
//! proves nothing, so this test guards the kit itself.
//!
//! `cargo test -p state-sync-conformance --test detection -- --nocapture`
//! prints the table: broken transport → specs that caught it.

mod outcomes;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::{
    BoxFuture, InvalidationEvent, InvalidationHandler, InvalidationSubscriber, PortError,
    SnapshotProvider, Subscription,
};
use state_sync_conformance::{
    Backend, Capabilities, Capability, CaseResult, SnapshotHandler, Suite, Transport, Verdict,
    WindowEnds,
};

/// One way of being wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Break {
    /// Unsubscribing does nothing: the handler stays registered and counted.
    NeverUnsubscribes,
    /// Only the first payload ever emitted is delivered.
    DropsAfterFirst,
    /// `"revision": "5"` goes out as `"revision": 5`.
    NumericRevisions,
    /// `emit` panics on a payload that is not a valid event.
    PanicsOnGarbage,
    /// Each window's provider serves its first snapshot forever.
    StaleForever,
    /// A backend failure becomes an empty object instead of an error.
    SwallowsErrors,
    /// Only the first live subscriber gets events.
    FirstSubscriberOnly,
    /// Unsubscribed handlers keep getting events (the count is right).
    RedeliversToClosed,
    /// Fields the engine does not read are dropped from every payload.
    DropsUnknownFields,
    /// Numbers travel as doubles, yet `exact-json` is claimed.
    RoundsNumbersClaimingExact,
    /// Deliveries happen on a later tick, yet `synchronous-delivery` is
    /// claimed.
    DefersClaimingSynchronous,
    /// Each payload is held until the next one and delivered after it, yet
    /// `ordered-delivery` is claimed.
    SwapsPairsClaimingOrdered,
    /// Each subscription takes four payloads between settles and drops the
    /// rest, newest included.
    DropsNewestWhenFull,
    /// A subscription becomes live only at the next settle, yet
    /// `immediate-subscribe` is claimed.
    RegistersLateClaimingImmediate,
    /// Unsubscribing ends every subscription of the same window label.
    UnsubscribesByLabel,
    /// A backend error reaches the window as a string: its JSON value is
    /// lost.
    StringifiesErrors,
    /// Every third subscribe reports success but never delivers.
    DeadSubscriptions,
    /// The topic of every payload is lower-cased on the way.
    LowercasesTopics,
    /// Payloads that are not valid invalidations are dropped.
    FiltersGarbage,
    /// The provider asks the backend for the window's label instead of its
    /// topic.
    AsksForTheLabel,
    /// Emits while a snapshot request is in flight are lost.
    DropsEmitsDuringFetch,
    /// Payloads longer than 4 KiB of JSON are cut to their known fields.
    TruncatesLargePayloads,
    /// A second subscription under a label replaces the first.
    OneSubscriptionPerLabel,
    /// Unsubscribing panics the second time a window unsubscribes.
    PanicsOnSecondUnsubscribe,
    /// Listeners live in one registry per thread, shared by every instance
    /// of the transport opened there.
    SharesListenersAcrossInstances,
    /// Every payload is delivered twice, yet `exactly-once` is claimed.
    DuplicatesClaimingExactlyOnce,
    /// Every other payload of a burst is shed (the newest kept), yet
    /// `exactly-once` is claimed.
    ShedsClaimingExactlyOnce,
    /// Snapshot answers and error values travel as doubles (events do
    /// not), yet `exact-json` is claimed.
    RoundsSnapshotNumbersClaimingExact,
    /// Members whose value is `null` are dropped from snapshot answers.
    DropsNullMembersOfSnapshots,
    /// A snapshot whose revision is not a canonical string is rejected by
    /// the transport with an error of its own.
    ValidatesSnapshots,
    /// Unsubscribing stops delivery and the count, but the handler is kept
    /// for ever (and the engine it captures with it).
    KeepsHandlers,
    /// Unsubscribing spawns a task on the current runtime: it panics on a
    /// thread without one.
    UnsubscribeNeedsARuntime,
    /// Dropping an unanswered snapshot request spawns a task on the
    /// current runtime: it panics on a thread without one.
    DropNeedsARuntime,
    /// The reply path unwraps the send to a request that was given up.
    UnwrapsDroppedReply,
    /// After a restart of its broker (`Backend::restart`), subscriptions
    /// stay counted but hear nothing more: the transport reconnected
    /// without subscribing again.
    ForgetsSubscriptionsOnRestart,
}

const ALL: [Break; 35] = [
    Break::NeverUnsubscribes,
    Break::DropsAfterFirst,
    Break::NumericRevisions,
    Break::PanicsOnGarbage,
    Break::StaleForever,
    Break::SwallowsErrors,
    Break::FirstSubscriberOnly,
    Break::RedeliversToClosed,
    Break::DropsUnknownFields,
    Break::RoundsNumbersClaimingExact,
    Break::DefersClaimingSynchronous,
    Break::SwapsPairsClaimingOrdered,
    Break::DropsNewestWhenFull,
    Break::RegistersLateClaimingImmediate,
    Break::UnsubscribesByLabel,
    Break::StringifiesErrors,
    Break::DeadSubscriptions,
    Break::LowercasesTopics,
    Break::FiltersGarbage,
    Break::AsksForTheLabel,
    Break::DropsEmitsDuringFetch,
    Break::TruncatesLargePayloads,
    Break::OneSubscriptionPerLabel,
    Break::PanicsOnSecondUnsubscribe,
    Break::SharesListenersAcrossInstances,
    Break::DuplicatesClaimingExactlyOnce,
    Break::ShedsClaimingExactlyOnce,
    Break::RoundsSnapshotNumbersClaimingExact,
    Break::DropsNullMembersOfSnapshots,
    Break::ValidatesSnapshots,
    Break::KeepsHandlers,
    Break::UnsubscribeNeedsARuntime,
    Break::DropNeedsARuntime,
    Break::UnwrapsDroppedReply,
    Break::ForgetsSubscriptionsOnRestart,
];

thread_local! {
    /// The registry a [`Break::SharesListenersAcrossInstances`] transport
    /// keeps its listeners in.
    static LISTENERS: Arc<Mutex<Vec<Arc<Entry>>>> = Arc::default();
}

fn name(fault: Break) -> &'static str {
    match fault {
        Break::NeverUnsubscribes => "never-unsubscribes",
        Break::DropsAfterFirst => "drops-after-first",
        Break::NumericRevisions => "numeric-revisions",
        Break::PanicsOnGarbage => "panics-on-garbage",
        Break::StaleForever => "stale-forever",
        Break::SwallowsErrors => "swallows-errors",
        Break::FirstSubscriberOnly => "first-subscriber-only",
        Break::RedeliversToClosed => "redelivers-to-closed",
        Break::DropsUnknownFields => "drops-unknown-fields",
        Break::RoundsNumbersClaimingExact => "rounds-numbers-claiming-exact",
        Break::DefersClaimingSynchronous => "defers-claiming-synchronous",
        Break::SwapsPairsClaimingOrdered => "swaps-pairs-claiming-ordered",
        Break::DropsNewestWhenFull => "drops-newest-when-full",
        Break::RegistersLateClaimingImmediate => "registers-late-claiming-immediate",
        Break::UnsubscribesByLabel => "unsubscribes-by-label",
        Break::StringifiesErrors => "stringifies-errors",
        Break::DeadSubscriptions => "dead-subscriptions",
        Break::LowercasesTopics => "lowercases-topics",
        Break::FiltersGarbage => "filters-garbage",
        Break::AsksForTheLabel => "asks-for-the-label",
        Break::DropsEmitsDuringFetch => "drops-emits-during-fetch",
        Break::TruncatesLargePayloads => "truncates-large-payloads",
        Break::OneSubscriptionPerLabel => "one-subscription-per-label",
        Break::PanicsOnSecondUnsubscribe => "panics-on-second-unsubscribe",
        Break::SharesListenersAcrossInstances => "shares-listeners-across-instances",
        Break::DuplicatesClaimingExactlyOnce => "duplicates-claiming-exactly-once",
        Break::ShedsClaimingExactlyOnce => "sheds-claiming-exactly-once",
        Break::RoundsSnapshotNumbersClaimingExact => "rounds-snapshot-numbers-claiming-exact",
        Break::DropsNullMembersOfSnapshots => "drops-null-members-of-snapshots",
        Break::ValidatesSnapshots => "validates-snapshots",
        Break::KeepsHandlers => "keeps-handlers",
        Break::UnsubscribeNeedsARuntime => "unsubscribe-needs-a-runtime",
        Break::DropNeedsARuntime => "drop-needs-a-runtime",
        Break::UnwrapsDroppedReply => "unwraps-dropped-reply",
        Break::ForgetsSubscriptionsOnRestart => "forgets-subscriptions-on-restart",
    }
}

/// The clause of `docs/protocol.md` each one breaks: a spec citing it must
/// be among those that catch it.
fn breaks(fault: Break) -> &'static str {
    match fault {
        Break::NeverUnsubscribes
        | Break::RedeliversToClosed
        | Break::PanicsOnSecondUnsubscribe
        | Break::KeepsHandlers => "TR-2",
        Break::NumericRevisions
        | Break::PanicsOnGarbage
        | Break::StaleForever
        | Break::DropsUnknownFields
        | Break::LowercasesTopics
        | Break::FiltersGarbage
        | Break::AsksForTheLabel
        | Break::TruncatesLargePayloads
        | Break::DropsNullMembersOfSnapshots
        | Break::ValidatesSnapshots => "TR-1",
        Break::SwallowsErrors
        | Break::StringifiesErrors
        | Break::UnsubscribeNeedsARuntime
        | Break::DropNeedsARuntime
        | Break::UnwrapsDroppedReply => "TR-3",
        Break::DropsAfterFirst
        | Break::FirstSubscriberOnly
        | Break::DropsNewestWhenFull
        | Break::DeadSubscriptions
        | Break::DropsEmitsDuringFetch => "TR-4",
        Break::UnsubscribesByLabel
        | Break::OneSubscriptionPerLabel
        | Break::SharesListenersAcrossInstances => "TR-5",
        Break::RoundsNumbersClaimingExact
        | Break::DefersClaimingSynchronous
        | Break::SwapsPairsClaimingOrdered
        | Break::RegistersLateClaimingImmediate
        | Break::DuplicatesClaimingExactlyOnce
        | Break::ShedsClaimingExactlyOnce
        | Break::RoundsSnapshotNumbersClaimingExact => "TR-6",
        Break::ForgetsSubscriptionsOnRestart => "TR-8",
    }
}

fn broken(fault: Break) -> Transport {
    Transport::new(name(fault), move || {
        BrokenBus(Arc::new(Shared {
            fault,
            handler: Mutex::new(None),
            entries: match fault {
                Break::SharesListenersAcrossInstances => LISTENERS.with(Arc::clone),
                _ => Arc::default(),
            },
            emitted: AtomicBool::new(false),
            held: Mutex::new(None),
            subscribes: AtomicUsize::new(0),
            fetching: AtomicUsize::new(0),
            unsubscribed: Mutex::new(Vec::new()),
            graveyard: Mutex::new(Vec::new()),
        }))
    })
    .with_capabilities(Capabilities::all().with(Capability::Restarts))
}

struct Entry {
    handler: InvalidationHandler,
    closed: AtomicBool,
    label: String,
    /// Live (a late registration becomes live at the next settle).
    live: AtomicBool,
    /// Payloads taken since the last settle.
    taken: AtomicUsize,
    /// Cut off by a restart it was not subscribed again after.
    cut: AtomicBool,
}

struct Shared {
    fault: Break,
    handler: Mutex<Option<SnapshotHandler>>,
    entries: Arc<Mutex<Vec<Arc<Entry>>>>,
    emitted: AtomicBool,
    /// The payload a pair-swapping transport holds back.
    held: Mutex<Option<Value>>,
    /// Subscribe calls so far.
    subscribes: AtomicUsize,
    /// Snapshot requests in flight.
    fetching: AtomicUsize,
    /// Labels whose windows have unsubscribed.
    unsubscribed: Mutex<Vec<String>>,
    /// Where a handler-keeping transport puts ended subscriptions.
    graveyard: Mutex<Vec<Arc<Entry>>>,
}

impl Shared {
    /// Ends a subscription: closed, and no longer held.
    fn forget(&self, entry: &Arc<Entry>) {
        entry.closed.store(true, Ordering::SeqCst);
        self.entries.lock().retain(|e| !Arc::ptr_eq(e, entry));
    }

    fn deliver_to(&self, e: &Entry, payload: &Value) {
        match self.fault {
            Break::DropsNewestWhenFull if e.taken.fetch_add(1, Ordering::SeqCst) >= 4 => {}
            Break::DuplicatesClaimingExactlyOnce => {
                (e.handler)(payload);
                (e.handler)(payload);
            }
            // Of the payloads between two settles, the second, fourth, …
            // are shed.
            Break::ShedsClaimingExactlyOnce if e.taken.fetch_add(1, Ordering::SeqCst) % 2 == 1 => {}
            Break::DefersClaimingSynchronous => {
                let (handler, payload) = (e.handler.clone(), payload.clone());
                tokio::spawn(async move { handler(&payload) });
            }
            _ => (e.handler)(payload),
        }
    }
}

/// Drops the fields the engine does not read.
fn known_fields_only(payload: &mut Value) {
    if let Value::Object(map) = payload {
        map.retain(|k, _| {
            matches!(
                k.as_str(),
                "topic" | "revision" | "sourceId" | "timestampMs"
            )
        });
    }
}

/// `answer` with `change` made to its snapshot, or to its error value.
fn rewritten(answer: Result<Value, PortError>, change: fn(&mut Value)) -> Result<Value, PortError> {
    match answer {
        Ok(mut snapshot) => {
            change(&mut snapshot);
            Ok(snapshot)
        }
        Err(e) => Err(match e.detail() {
            Some(detail) => {
                let mut detail = detail.clone();
                change(&mut detail);
                PortError::from_json(detail)
            }
            None => e,
        }),
    }
}

/// Without the members whose value is `null`, at any depth.
fn without_nulls(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(without_nulls),
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(without_nulls);
        }
        _ => {}
    }
}

/// Whether `snapshot` has a canonical revision string (what a validating
/// transport lets through).
fn canonical(snapshot: &Value) -> bool {
    snapshot
        .get("revision")
        .and_then(Value::as_str)
        .is_some_and(|r| state_sync::Revision::parse(r).is_ok())
}

/// Spawns on the runtime of the thread it is dropped on, unless disarmed:
/// a request's clean-up that needs a runtime.
struct CleanupOnRuntime {
    armed: bool,
}

impl Drop for CleanupOnRuntime {
    fn drop(&mut self) {
        if self.armed {
            tokio::runtime::Handle::current().spawn(async {});
        }
    }
}

/// Every number as a double.
fn as_doubles(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(d) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = d;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(as_doubles),
        Value::Object(map) => map.values_mut().for_each(as_doubles),
        _ => {}
    }
}

struct BrokenBus(Arc<Shared>);

impl BrokenBus {
    fn emit_broken(&self, payload: &Value) {
        let s = &self.0;
        let mut payload = payload.clone();
        match s.fault {
            Break::DropsAfterFirst if s.emitted.swap(true, Ordering::SeqCst) => return,
            Break::NumericRevisions => {
                if let Some(n) = payload
                    .get("revision")
                    .and_then(Value::as_str)
                    .and_then(|r| r.parse::<u64>().ok())
                {
                    payload["revision"] = json!(n);
                }
            }
            Break::PanicsOnGarbage if InvalidationEvent::from_json(&payload).is_err() => {
                panic!("broken transport: cannot handle this payload")
            }
            Break::DropsUnknownFields => known_fields_only(&mut payload),
            Break::LowercasesTopics => {
                if let Some(topic) = payload.get("topic").and_then(Value::as_str) {
                    payload["topic"] = Value::String(topic.to_lowercase());
                }
            }
            Break::FiltersGarbage if InvalidationEvent::from_json(&payload).is_err() => return,
            Break::DropsEmitsDuringFetch if s.fetching.load(Ordering::SeqCst) > 0 => return,
            Break::TruncatesLargePayloads
                if serde_json::to_string(&payload).map_or(0, |t| t.len()) > 4096 =>
            {
                known_fields_only(&mut payload);
            }
            Break::RoundsNumbersClaimingExact => as_doubles(&mut payload),
            Break::SwapsPairsClaimingOrdered => {
                let mut held = s.held.lock();
                match held.take() {
                    None => {
                        *held = Some(payload);
                        return;
                    }
                    Some(earlier) => {
                        drop(held);
                        self.deliver(&payload);
                        self.deliver(&earlier);
                        return;
                    }
                }
            }
            _ => {}
        }
        self.deliver(&payload);
    }

    fn deliver(&self, payload: &Value) {
        let s = &self.0;
        let entries = s.entries.lock().clone();
        for (i, e) in entries.iter().enumerate() {
            let closed = e.closed.load(Ordering::SeqCst);
            let deliver = match s.fault {
                Break::RedeliversToClosed => true,
                Break::FirstSubscriberOnly => {
                    !closed && entries[..i].iter().all(|p| p.closed.load(Ordering::SeqCst))
                }
                _ => !closed && e.live.load(Ordering::SeqCst) && !e.cut.load(Ordering::SeqCst),
            };
            if deliver {
                s.deliver_to(e, payload);
            }
        }
    }
}

impl Backend for BrokenBus {
    fn serve(&self, handler: SnapshotHandler) {
        *self.0.handler.lock() = Some(handler);
    }

    fn emit(&self, payload: &Value) {
        self.emit_broken(payload);
    }

    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // What was held goes out; late registrations become live; the
            // per-settle allowance starts again; deferred deliveries run.
            if let Some(held) = self.0.held.lock().take() {
                self.deliver(&held);
            }
            for e in self.0.entries.lock().iter() {
                e.live.store(true, Ordering::SeqCst);
                e.taken.store(0, Ordering::SeqCst);
            }
            tokio::task::yield_now().await;
        })
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        let end = End {
            shared: self.0.clone(),
            topic: topic.to_owned(),
            label: label.to_owned(),
            first: Mutex::new(None),
        };
        let end = Arc::new(end);
        WindowEnds {
            subscriber: end.clone(),
            provider: end,
        }
    }

    /// A broker that restarts at once; the subscriptions survive it,
    /// unless the transport is the one that forgets them.
    fn restart(&self) -> BoxFuture<'_, Result<(), String>> {
        if self.0.fault == Break::ForgetsSubscriptionsOnRestart {
            for e in self.0.entries.lock().iter() {
                e.cut.store(true, Ordering::SeqCst);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn active_subscriptions(&self) -> Option<usize> {
        let entries = self.0.entries.lock();
        Some(match self.0.fault {
            Break::NeverUnsubscribes => entries.len(),
            _ => entries
                .iter()
                .filter(|e| !e.closed.load(Ordering::SeqCst))
                .count(),
        })
    }
}

struct End {
    shared: Arc<Shared>,
    topic: String,
    label: String,
    first: Mutex<Option<Value>>,
}

impl InvalidationSubscriber for End {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let fault = self.shared.fault;
        let n = self.shared.subscribes.fetch_add(1, Ordering::SeqCst);
        let dead = fault == Break::DeadSubscriptions && n % 3 == 2;
        let entry = Arc::new(Entry {
            handler,
            closed: AtomicBool::new(false),
            label: self.label.clone(),
            live: AtomicBool::new(fault != Break::RegistersLateClaimingImmediate && !dead),
            taken: AtomicUsize::new(0),
            cut: AtomicBool::new(false),
        });
        {
            let mut entries = self.shared.entries.lock();
            if fault == Break::OneSubscriptionPerLabel {
                for e in entries.iter() {
                    if e.label == self.label {
                        e.closed.store(true, Ordering::SeqCst);
                    }
                }
            }
            entries.push(entry.clone());
        }
        let shared = self.shared.clone();
        Box::pin(async move {
            Ok(Subscription::new(move || match fault {
                Break::NeverUnsubscribes => {}
                Break::KeepsHandlers => {
                    shared.forget(&entry);
                    shared.graveyard.lock().push(entry);
                }
                Break::UnsubscribeNeedsARuntime => {
                    tokio::runtime::Handle::current().spawn(async move {
                        shared.forget(&entry);
                    });
                }
                Break::PanicsOnSecondUnsubscribe => {
                    let mut seen = shared.unsubscribed.lock();
                    if seen.contains(&entry.label) {
                        drop(seen);
                        panic!("broken transport: this window has already unsubscribed");
                    }
                    seen.push(entry.label.clone());
                    drop(seen);
                    shared.forget(&entry);
                }
                Break::UnsubscribesByLabel => {
                    for e in shared.entries.lock().iter() {
                        if e.label == entry.label {
                            e.closed.store(true, Ordering::SeqCst);
                        }
                    }
                    shared.forget(&entry);
                }
                // Closed, but still listed: it keeps getting events.
                Break::RedeliversToClosed => entry.closed.store(true, Ordering::SeqCst),
                _ => shared.forget(&entry),
            }))
        })
    }
}

impl SnapshotProvider for End {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let handler = self.shared.handler.lock().clone();
        Box::pin(async move {
            let Some(handler) = handler else {
                return Err(PortError::new("not served"));
            };
            let asked = match self.shared.fault {
                Break::AsksForTheLabel => self.label.clone(),
                _ => self.topic.clone(),
            };
            self.shared.fetching.fetch_add(1, Ordering::SeqCst);
            let mut cleanup = CleanupOnRuntime {
                armed: self.shared.fault == Break::DropNeedsARuntime,
            };
            let mut result = if self.shared.fault == Break::UnwrapsDroppedReply {
                // The answer comes back over a channel from a task of its own.
                let (reply, answer) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    let result = handler.call(asked).await;
                    if reply.send(result).is_err() {
                        panic!("broken transport: the window stopped waiting for its reply");
                    }
                });
                answer
                    .await
                    .unwrap_or_else(|_| Err(PortError::new("no reply")))
            } else {
                handler.call(asked).await
            };
            cleanup.armed = false;
            if self.shared.fault == Break::DropsEmitsDuringFetch {
                // A round trip during which the transport is deaf.
                state_sync_conformance::simulated_latency(std::time::Duration::from_millis(5))
                    .await;
            }
            self.shared.fetching.fetch_sub(1, Ordering::SeqCst);
            match self.shared.fault {
                Break::StaleForever => {
                    let mut first = self.first.lock();
                    if let (Some(cached), Ok(_)) = (first.as_ref(), &result) {
                        result = Ok(cached.clone());
                    } else if let Ok(v) = &result {
                        *first = Some(v.clone());
                    }
                }
                Break::SwallowsErrors if result.is_err() => result = Ok(json!({})),
                Break::StringifiesErrors => {
                    result = result.map_err(|e| PortError::new(e.message()));
                }
                Break::RoundsSnapshotNumbersClaimingExact => result = rewritten(result, as_doubles),
                Break::DropsNullMembersOfSnapshots => result = rewritten(result, without_nulls),
                Break::ValidatesSnapshots => {
                    if let Ok(v) = &result
                        && !canonical(v)
                    {
                        result = Err(PortError::new("the backend served an invalid snapshot"));
                    }
                }
                _ => {}
            }
            result
        })
    }
}

/// (That the reference transports pass every spec is the conformance
/// harness's own check: `tests/conformance.rs`.)
#[test]
fn every_broken_transport_fails_a_spec() {
    let mut table = String::from(
        "| broken transport | breaks | caught by | specs citing it that caught it |\n|---|---|---|---|\n",
    );
    let mut undetected = Vec::new();
    // Every line of a failed case names the clause its check defends.
    let mut unnamed = Vec::new();
    for fault in ALL {
        let (name, clause) = (name(fault), breaks(fault));
        let report = Suite::new()
            .transport(broken(fault))
            .run()
            .expect("suite runs");
        let caught: Vec<_> = report
            .cases
            .iter()
            .filter(|c| c.verdict.is_unexpected())
            .collect();
        // A failed check must name the clause in its failure line; a
        // panic or a hang names none, so a spec citing the clause will do.
        let names = |c: &CaseResult| {
            if c.verdict == Verdict::Fail {
                c.broken_clauses.iter().any(|b| b == clause)
                    && c.failures
                        .iter()
                        .any(|f| f.starts_with(&format!("{clause}: ")))
            } else {
                c.clauses.iter().any(|c| c == clause)
            }
        };
        unnamed.extend(outcomes::failure_lines_naming_no_clause(&report));
        let citing: Vec<String> = caught
            .iter()
            .filter(|c| names(c))
            .map(|c| format!("{} ({})", c.spec, c.verdict))
            .collect();
        if citing.is_empty() {
            let all: Vec<String> = caught
                .iter()
                .map(|c| format!("{} {:?}", c.spec, c.broken_clauses))
                .collect();
            undetected.push(format!(
                "{name} (no failure named {clause}; caught by {all:?})"
            ));
        }
        table.push_str(&format!(
            "| {name} | {clause} | {} of {} | {} |\n",
            caught.len(),
            report.cases.len(),
            citing.join(", ")
        ));
    }
    println!("{table}");
    assert!(
        unnamed.is_empty(),
        "failure lines of failed cases that name no clause:\n{}",
        unnamed.join("\n")
    );
    assert!(
        undetected.is_empty(),
        "not caught by a failure naming the clause it breaks: {undetected:?}\n{table}"
    );
}
