//! Checks: the outcome of `start`/`refresh`, the fields of `expect`, and
//! the invariants every case ends with (teardown).
//!
//! To add an expectation: a field of `spec::Expect`, its comparison here
//! (in [`Case::check_window`] for a per-window one), and its line in
//! `docs/spec-format.md`. A failed check says what was expected and what
//! was found.

use std::time::Duration;

use serde_json::Value;
use state_sync::{ErrorContext, Position, Revision, SyncError};

use crate::failure::Failure;
use crate::layers::record::Record;
use crate::spec::{
    DEFAULT_TOPIC, ErrorContextExpect, Expect, LifecycleName, LocalRevision, Outcome,
};

use super::bus::which_bus;
use super::call_error::CallError;
use super::gate::Reading;
use super::real_time::Span;
use super::steps::Case;
use super::wiring::Window;

/// The clauses the kit's own checks defend, whatever the spec cites.
pub(super) mod clause {
    /// A failed `start` leaves nothing subscribed (rollback).
    pub(in crate::case) const ROLLBACK: &str = "LIFE-4";
    /// A stopped window has closed its subscriptions.
    pub(in crate::case) const UNSUBSCRIBED_AT_STOP: &str = "LIFE-7";
    /// Every invalid payload delivered is reported as a protocol error.
    pub(in crate::case) const GARBAGE_REPORTED: &str = "ERR-1";
    /// Once every window stopped, the transport holds no subscription.
    pub(in crate::case) const TRANSPORT_FREED: &str = "TR-2";
    /// `stopped()` resolves once nothing runs, not before.
    pub(in crate::case) const STOPPED: &str = "STOP-3";
    /// The events a `release` step lets go reached the window.
    pub(in crate::case) const DELIVERED: &str = "TR-4";

    /// Every one of them, for the test that they are registered clauses.
    #[cfg(test)]
    pub(in crate::case) const ALL: [&str; 6] = [
        DELIVERED,
        ROLLBACK,
        UNSUBSCRIBED_AT_STOP,
        GARBAGE_REPORTED,
        TRANSPORT_FREED,
        STOPPED,
    ];
}

/// Virtual time allowed for unsubscriptions to finish after the last step.
const TEARDOWN_SETTLE_MS: u64 = 10_000;
/// Virtual time the backend's `settle` may take at teardown, whatever is
/// left of the case budget.
const SETTLE_ALLOWANCE_MS: u64 = 60_000;

impl Case<'_> {
    /// Compares the result of `call` (`start` or `refresh`), made or
    /// joined by step `what` (`Err`: out of budget, with what the transport
    /// still had in flight), with the step's expected outcome, a check of
    /// `clause`.
    pub(super) fn check_call(
        &mut self,
        i: usize,
        what: &str,
        call: &str,
        name: &str,
        result: Result<Result<(), CallError>, String>,
        (expect, clause): (Option<&Outcome>, &str),
    ) {
        let result = match result {
            Ok(result) => result,
            Err(waiting) => {
                self.budget_ran_out(i, what, name, &waiting);
                return;
            }
        };
        match &result {
            Ok(()) => self.trace.log(name, format!("{what} ok")),
            Err(e) => self
                .trace
                .log(name, format!("{what} failed [{}]: {e}", e.phase)),
        }
        let problem = match (expect.copied().unwrap_or(Outcome::Ok), &result) {
            (Outcome::Ok, Ok(())) => None,
            (Outcome::Fail(phase), Err(e)) if e.phase == phase.0 => None,
            (Outcome::Ok, Err(e)) => Some(format!(
                "window {name:?}: expected ok, got error in phase {}: {e}",
                e.phase
            )),
            (Outcome::Fail(phase), Ok(())) => Some(format!(
                "window {name:?}: expected failure in phase {phase}, got ok"
            )),
            (Outcome::Fail(phase), Err(e)) => Some(format!(
                "window {name:?}: expected failure in phase {phase}, got phase {}: {e}",
                e.phase
            )),
        };
        if let Some(problem) = problem {
            self.fail(i, what, clause, problem);
        }
        // A failed start must leave nothing subscribed (LIFE-4).
        if call == "start"
            && result.is_err()
            && let Some(w) = self.windows.get(name)
        {
            let open = w.record.lock().open_subscriptions;
            if open != 0 {
                self.fail(
                    i,
                    what,
                    clause::ROLLBACK,
                    format!("window {name:?}: {open} subscription(s) left after a failed start"),
                );
            }
        }
    }

    /// `expect`: every given field must hold, a check of the clause the
    /// step names (or the spec's first). Fields reading what the target
    /// does not offer are skipped (see `gate`).
    pub(super) fn expect(&mut self, i: usize, e: &Expect) {
        let mut problems = Vec::new();
        if let Some(sel) = &e.window {
            for name in sel.names() {
                match self.windows.get(name) {
                    Some(w) => self.check_window(name, w, e, &mut problems),
                    None => problems.push(format!("window {name:?} is not open")),
                }
            }
        }
        if let Some(bound) = e
            .subscriptions
            .filter(|_| !self.skips(Reading::Subscriptions))
        {
            match self
                .buses
                .get(e.bus.as_deref())
                .backend
                .active_subscriptions()
            {
                Some(n) if bound.holds(n as u64) => {}
                Some(n) => {
                    problems.push(format!("active subscriptions: expected {bound}, got {n}"))
                }
                None => problems.push("the transport does not report its subscriptions".to_owned()),
            }
        }
        if let Some(s) = &e.source {
            let topic = s.topic.as_deref().unwrap_or(DEFAULT_TOPIC);
            let at = self.buses.sources().current(topic).position();
            let want = Position::new(s.epoch.unwrap_or(at.epoch), s.revision);
            if at != want {
                problems.push(format!(
                    "source {topic:?}: expected revision {want}, got {at}"
                ));
            }
        }
        let clause = self.spec.clause_of(e.clause.as_deref());
        for p in problems {
            self.trace
                .log("kit", format!("expectation failed ({clause}): {p}"));
            self.fail(i, "expect", clause, p);
        }
    }

    /// The per-window fields of `expect`.
    fn check_window(&self, name: &str, w: &Window, e: &Expect, problems: &mut Vec<String>) {
        if let Some(other) = &e.same_as {
            self.check_same_as(name, w, other, problems);
        }
        let source = self.buses.sources().current(&w.topic);
        let (source_at, source_data) = (source.position(), source.data);
        let local = w.sync.local_position();
        let rec = w.record.lock();
        if let Some(expected) = e.local_revision {
            // `source` is the source's position; a revision alone is of the
            // epoch `local_epoch` names, or of the window's own.
            let want = match expected {
                LocalRevision::Source => source_at,
                LocalRevision::Exactly(r) => Position::new(e.local_epoch.unwrap_or(local.epoch), r),
            };
            if want != local {
                let shown = match expected {
                    LocalRevision::Source => format!("source ({want})"),
                    LocalRevision::Exactly(_) => format!("{want} ({want})"),
                };
                problems.push(format!(
                    "window {name:?}: local revision: expected {shown}, got {local}"
                ));
            }
        } else if let Some(epoch) = e.local_epoch
            && epoch != local.epoch
        {
            problems.push(format!(
                "window {name:?}: local epoch: expected {epoch}, got {} (at revision {local})",
                local.epoch
            ));
        }
        if let Some(applied) = &e.applied
            && !rec
                .applied
                .iter()
                .map(|p| p.revision)
                .eq(applied.iter().copied())
        {
            let show = |rs: &[Revision]| rs.iter().map(Revision::to_string).collect::<Vec<_>>();
            let got: Vec<String> = rec.applied.iter().map(Position::to_string).collect();
            problems.push(format!(
                "window {name:?}: applied revisions: expected {:?}, got {got:?}",
                show(applied),
            ));
        }
        if let Some(data) = &e.data
            && rec.data.as_ref() != Some(data)
        {
            problems.push(format!(
                "window {name:?}: data: expected {}, got {}",
                short(data),
                rec.data.as_ref().map_or("nothing".to_owned(), short)
            ));
        }
        if let Some(want) = e.converged {
            let converged = local == source_at && rec.data.as_ref() == Some(&source_data);
            if converged != want {
                problems.push(format!(
                    "window {name:?}: expected {}converged to source revision {source_at}, window is at {local} with data {}",
                    if want { "" } else { "not " },
                    rec.data.as_ref().map_or("nothing".to_owned(), short)
                ));
            }
        }
        let counts = [
            ("fetches", e.fetches, rec.fetches),
            ("applies", e.applies, rec.applied.len() as u64),
            ("subscribe calls", e.subscribes, rec.subscribes),
        ];
        for (what, bound, got) in counts {
            if let Some(bound) = bound
                && !bound.holds(got)
            {
                problems.push(format!(
                    "window {name:?}: {what}: expected {bound}, got {got}"
                ));
            }
        }
        let uncounted = self.skips(Reading::DeliveryCounts);
        for (phase, bound) in e.errors.iter().flatten() {
            if uncounted && phase.counts_deliveries() {
                continue;
            }
            let n = rec.errors.iter().filter(|c| c.phase == phase.0).count() as u64;
            if !bound.holds(n) {
                problems.push(format!(
                    "window {name:?}: errors in phase {phase}: expected {bound}, got {n}"
                ));
            }
        }
        if let Some(metrics) = e.metrics.as_ref().filter(|_| !self.skips(Reading::Metrics)) {
            let m = w.sync.metrics();
            for (metric, bound) in metrics {
                if uncounted && metric.counts_deliveries() {
                    continue;
                }
                let got = metric.of(&m);
                if !bound.holds(got) {
                    problems.push(format!(
                        "window {name:?}: metric {metric}: expected {bound}, got {got}"
                    ));
                }
            }
        }
        if let Some(want) = &e.error_context {
            check_error_context(name, &rec.errors, want, problems);
        }
        if let Some(want) = e
            .error_phases
            .as_ref()
            .filter(|w| !(uncounted && w.iter().any(|p| p.counts_deliveries())))
        {
            let got: Vec<String> = rec.errors.iter().map(|c| c.phase.to_string()).collect();
            let want: Vec<String> = want.iter().map(ToString::to_string).collect();
            if got != want {
                problems.push(format!(
                    "window {name:?}: errors reported, by phase: expected {want:?}, got {got:?}"
                ));
            }
        }
        if let Some(want) = &e.retry_delays_ms {
            let got = retry_delays(&rec.attempts, want.len());
            let holds = got
                .as_ref()
                .is_some_and(|g| want.iter().zip(g).all(|(bound, d)| bound.holds(*d)));
            if !holds {
                let want: Vec<String> = want.iter().map(ToString::to_string).collect();
                problems.push(format!(
                    "window {name:?}: delays between the last {} fetch attempts: expected [{}] ms, got {}",
                    want.len() + 1,
                    want.join(", "),
                    got.map_or_else(
                        || format!("only {} attempt(s), or one still running", rec.attempts.len()),
                        |g| format!("{g:?} ms")
                    )
                ));
            }
        }
        if let Some(want) = e.lifecycle.filter(|_| !self.skips(Reading::Lifecycle)) {
            let got = LifecycleName::from(w.sync.lifecycle());
            if got != want {
                problems.push(format!(
                    "window {name:?}: lifecycle: expected {want}, got {got}"
                ));
            }
        }
    }

    /// `same_as`: window `name` holds the revision and data `other` holds.
    fn check_same_as(&self, name: &str, w: &Window, other: &str, problems: &mut Vec<String>) {
        let Some(o) = self.windows.get(other) else {
            problems.push(format!("window {other:?} is not open"));
            return;
        };
        let (mine, theirs) = (w.sync.local_position(), o.sync.local_position());
        if mine != theirs {
            problems.push(format!(
                "window {name:?}: expected the revision window {other:?} holds ({theirs}), got {mine}"
            ));
            return;
        }
        let mine = w.record.lock().data.clone();
        let theirs = o.record.lock().data.clone();
        if mine != theirs {
            let show = |d: &Option<Value>| d.as_ref().map_or_else(|| "nothing".to_owned(), short);
            problems.push(format!(
                "window {name:?}: at revision {}: expected the data window {other:?} holds ({}), got {}",
                w.sync.local_position(),
                show(&theirs),
                show(&mine)
            ));
        }
    }

    /// Whether expectations reading `r` are skipped on this target.
    pub(super) fn skips(&self, r: Reading) -> bool {
        self.skipping.contains(&r)
    }

    /// Stops every window, lets the transport finish its work, and checks
    /// the always-on invariants, each naming its clause.
    pub(super) async fn teardown(&mut self) {
        for w in self.windows.values() {
            w.sync.stop();
            w.record.lock().stopped = true;
            for (_, handle) in &w.background {
                handle.abort();
            }
        }
        // Unsubscriptions and deliveries the transport still has in flight
        // finish first; then virtual time passes, so a transport that keeps
        // delivering after unsubscribe (on a timer) is caught.
        self.settle_backend("teardown").await;
        let span = Span::Everything(Duration::from_millis(TEARDOWN_SETTLE_MS));
        if let Err(why) = self.pass_time(span).await {
            self.failures
                .push(Failure::unclaused(format!("teardown: {why}")));
        }
        self.driver_quiet("teardown").await;
        self.settle_backend("teardown").await;
        let records: Vec<(String, Record)> = self
            .windows
            .iter()
            .map(|(n, w)| (n.clone(), w.record.clone()))
            .chain(self.closed.iter().cloned())
            .collect();
        // Subscriptions the engines still hold: the transport counting them
        // is no fault of its own.
        let mut held_by_engines: i64 = 0;
        for (name, record) in records {
            let rec = record.lock();
            held_by_engines += rec.open_subscriptions.max(0);
            for v in &rec.violations {
                self.failures.push(Failure {
                    message: format!("invariant: window {name:?}: {}", v.message),
                    ..v.clone()
                });
            }
            if rec.garbage_forwarded != rec.event_protocol_errors {
                self.failures.push(Failure::of(
                    clause::GARBAGE_REPORTED,
                    format!(
                        "invariant: window {name:?}: {} invalid payload(s) delivered but {} reported as protocol errors",
                        rec.garbage_forwarded, rec.event_protocol_errors
                    ),
                ));
            }
            if rec.open_subscriptions != 0 {
                self.failures.push(Failure::of(
                    clause::UNSUBSCRIBED_AT_STOP,
                    format!(
                        "invariant: window {name:?}: {} subscription(s) still open after stop",
                        rec.open_subscriptions
                    ),
                ));
            }
        }
        for bus in self.buses.all() {
            let kept = bus.ledger.handlers_kept();
            if kept > 0 {
                self.failures.push(Failure::of(
                    clause::TRANSPORT_FREED,
                    format!(
                        "invariant: the transport{} still holds the handlers of {kept} ended subscription(s) after it settled (they keep the windows' engines alive: release a handler when its subscription ends)",
                        which_bus(&bus.name)
                    ),
                ));
            }
            if let Some(n) = bus.backend.active_subscriptions()
                && i64::try_from(n).unwrap_or(i64::MAX) > held_by_engines
            {
                self.failures.push(Failure::of(
                    clause::TRANSPORT_FREED,
                    format!(
                        "invariant: the transport{} still has {n} active subscription(s) after every window stopped",
                        which_bus(&bus.name)
                    ),
                ));
            }
        }
        let reacted = self.reactions.problems(self.spec.clause_of(None));
        self.failures.extend(reacted);
    }

    /// A `start`/`refresh`/`join` did not finish within the budget.
    fn budget_ran_out(&mut self, i: usize, what: &str, name: &str, waiting: &str) {
        self.trace.log(
            name,
            format!("{what} still pending when the budget ran out"),
        );
        self.broke(
            i,
            what,
            if self.real_time {
                format!(
                    "window {name:?}: did not complete, and {}{waiting}",
                    self.gave_up()
                )
            } else {
                format!(
                    "window {name:?}: did not complete within the case budget of {} virtual ms{waiting}",
                    self.budget.as_millis()
                )
            },
        );
        self.timed_out = true;
    }

    /// `; the transport never finished: ...` when work is in flight.
    pub(super) fn still_in_flight(&self) -> String {
        let waiting = self.activity.waiting_for();
        if waiting.is_empty() {
            String::new()
        } else {
            format!("; {waiting}")
        }
    }

    /// Waits until the driver, if the engines are in one, has acknowledged
    /// every command sent so far — what it reported (state, errors,
    /// unsubscriptions) is then in — for at most [`SETTLE_ALLOWANCE_MS`];
    /// false (and the case timed out) if it did not.
    pub(super) async fn driver_quiet(&mut self, during: &str) -> bool {
        let Some(driver) = &self.driver else {
            return true;
        };
        let allowance = Duration::from_millis(SETTLE_ALLOWANCE_MS);
        if tokio::time::timeout(allowance, driver.quiet())
            .await
            .is_ok()
        {
            return true;
        }
        let why = format!(
            "{during}: the driver did not acknowledge every command within {SETTLE_ALLOWANCE_MS} virtual ms{}",
            self.still_in_flight()
        );
        self.failures.push(Failure::unclaused(why));
        self.timed_out = true;
        false
    }

    /// Awaits the backend's `settle`, for at most [`SETTLE_ALLOWANCE_MS`].
    pub(super) async fn settle_backend(&mut self, during: &str) {
        let allowance = Duration::from_millis(SETTLE_ALLOWANCE_MS);
        let settle = self.buses.settle();
        if tokio::time::timeout(allowance, settle).await.is_err() {
            let why = format!(
                "{during}: the transport's `Backend::settle` did not resolve within {SETTLE_ALLOWANCE_MS} virtual ms{}",
                self.still_in_flight()
            );
            self.failures.push(Failure::unclaused(why));
            self.timed_out = true;
        }
    }
}

/// The waits before each of the last `n` attempts, from the end of the one
/// before; `None` if there are not `n + 1` finished attempts.
fn retry_delays(attempts: &[(u64, Option<u64>)], n: usize) -> Option<Vec<u64>> {
    let last = attempts.get(attempts.len().checked_sub(n + 1)?..)?;
    last.windows(2)
        .map(|pair| Some(pair[1].0.saturating_sub(pair[0].1?)))
        .collect()
}

/// Compares the last error of a phase with the expected context fields.
fn check_error_context(
    name: &str,
    errors: &[ErrorContext],
    want: &ErrorContextExpect,
    problems: &mut Vec<String>,
) {
    let phase = want.phase;
    let Some(ctx) = errors.iter().rev().find(|c| c.phase == phase.0) else {
        problems.push(format!(
            "window {name:?}: no error in phase {phase} was reported"
        ));
        return;
    };
    let mut check = |field: &str, expected: Option<String>, got: Option<String>| {
        if let Some(expected) = expected {
            let got = got.unwrap_or_else(|| "absent".to_owned());
            if expected != got {
                problems.push(format!(
                    "window {name:?}: last {phase} error: {field}: expected {expected}, got {got}"
                ));
            }
        }
    };
    let rev = |r: Option<Revision>| r.map(|r| r.to_string());
    check("topic", want.topic.clone(), Some(ctx.topic.clone()));
    check(
        "local_revision",
        rev(want.local_revision),
        rev(ctx.local_revision),
    );
    check(
        "event_revision",
        rev(want.event_revision),
        rev(ctx.event_revision),
    );
    check(
        "snapshot_revision",
        rev(want.snapshot_revision),
        rev(ctx.snapshot_revision),
    );
    check("source_id", want.source_id.clone(), ctx.source_id.clone());
    check(
        "source_event",
        want.source_event.map(|b| b.to_string()),
        Some(ctx.source_event.is_some().to_string()),
    );
    check(
        "attempt",
        want.attempt.map(|a| a.to_string()),
        ctx.attempt.map(|a| a.to_string()),
    );
    check(
        "will_retry",
        want.will_retry.map(|b| b.to_string()),
        ctx.will_retry.map(|b| b.to_string()),
    );
    check(
        "message",
        want.message.as_ref().map(|m| format!("{m:?}")),
        Some(format!("{:?}", ctx.message)),
    );
    if let Some(part) = &want.message_contains
        && !ctx.message.contains(part.as_str())
    {
        problems.push(format!(
            "window {name:?}: last {phase} error: message: expected it to contain {part:?}, got {:?}",
            ctx.message
        ));
    }
    let detail = match &ctx.error {
        Some(SyncError::Subscribe(p) | SyncError::GetSnapshot(p) | SyncError::Apply(p)) => {
            p.detail().cloned().unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    if let Some(expected) = &want.detail
        && *expected != detail
    {
        problems.push(format!(
            "window {name:?}: last {phase} error: detail: expected {}, got {}",
            short(expected),
            short(&detail)
        ));
    }
}

/// Compact JSON cut to 80 bytes, for messages.
fn short(value: &Value) -> String {
    state_sync::protocol::preview(value, 80)
}

#[cfg(test)]
mod tests {
    use state_sync::{ErrorContext, Phase};

    use super::{check_error_context, retry_delays};
    use crate::spec::{ErrorContextExpect, PhaseName};

    fn expect(message: Option<&str>, message_contains: Option<&str>) -> ErrorContextExpect {
        let mut want: ErrorContextExpect = serde_json::from_value(serde_json::json!({
            "phase": "getSnapshot"
        }))
        .expect("an expectation");
        want.message = message.map(str::to_owned);
        want.message_contains = message_contains.map(str::to_owned);
        want
    }

    #[test]
    fn messages_are_checked_exactly_or_for_a_part() {
        let errors = [ErrorContext::new(
            Phase::GetSnapshot,
            "t",
            "getSnapshot failed: disk full".to_owned(),
        )];
        let problems = |want: ErrorContextExpect| {
            let mut problems = Vec::new();
            check_error_context("a", &errors, &want, &mut problems);
            problems
        };
        assert!(problems(expect(Some("getSnapshot failed: disk full"), None)).is_empty());
        assert!(problems(expect(None, Some("disk full"))).is_empty());
        let exact = problems(expect(Some("disk full"), None));
        assert_eq!(exact.len(), 1, "{exact:?}");
        assert!(
            exact[0].contains("message: expected \"disk full\""),
            "{exact:?}"
        );
        let part = problems(expect(None, Some("disk empty")));
        assert_eq!(part.len(), 1, "{part:?}");
        assert!(part[0].contains("to contain \"disk empty\""), "{part:?}");
        let mut other = expect(None, None);
        other.phase = PhaseName(Phase::Apply);
        assert!(problems(other)[0].contains("no error in phase"));
    }

    #[test]
    fn the_kits_own_checks_defend_registered_clauses() {
        for id in super::clause::ALL {
            assert!(
                crate::corpus::clause_level(id).is_some(),
                "{id} is not in contract-specs/clauses.json"
            );
        }
    }

    #[test]
    fn retry_delays_run_from_the_end_of_one_attempt_to_the_start_of_the_next() {
        let attempts = [
            (0, Some(5)),
            (105, Some(110)),
            (310, Some(360)),
            (760, Some(761)),
        ];
        assert_eq!(retry_delays(&attempts, 3), Some(vec![100, 200, 400]));
        assert_eq!(retry_delays(&attempts, 1), Some(vec![400]));
        assert_eq!(retry_delays(&attempts, 4), None, "only four attempts");
        let running = [(0, Some(5)), (105, None), (205, None)];
        assert_eq!(retry_delays(&running, 2), None, "an attempt still runs");
    }
}
