//! `watch`: the stream of changes, opened again after the server or the network cuts it, and
//! resumed so the output reads as one stream ([`Resume`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write as _};

use scalekeeper_api::v1::{Deployment, EventType, WatchDeploymentsRequest, WatchDeploymentsResponse};
use serde_json::Value;

use super::CliError;
use super::args::Output;
use super::render::{emit, render_watch_event, status_line, watch_event_json};
use super::session::{AttemptError, Idempotency, Session, should_retry};

/// Streams watch events until the server ends the stream (Ok), it fails with an error the retry
/// policy does not retry (Err), or Ctrl-C (Ok).
///
/// A stream cut by the server going away (UNAVAILABLE, the connection lost) is opened again
/// under the retry policy, and resumed: the server answers a new stream with a full snapshot,
/// which [`Resume`] turns into what changed meanwhile, so the output reads as one stream.
///
/// `context`: the context this stream comes from, over a fleet ([`crate::fleet`]): each table
/// line then starts with its name and a space, each JSON line has `"context": NAME`, and the
/// reconnection note on stderr names it.
pub(super) async fn watch(
    session: &Session,
    req: WatchDeploymentsRequest,
    output: Output,
    context: Option<&str>,
) -> Result<(), CliError> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ctrl_c_armed = true;
    let mut resume = Resume::default();
    loop {
        let open = session.call(Idempotency::Read, |mut c| {
            let req = req.clone();
            async move { c.watch_deployments(tonic::Request::new(req)).await }
        });
        tokio::pin!(open);
        let mut stream = loop {
            tokio::select! {
                res = &mut ctrl_c, if ctrl_c_armed => match res {
                    Ok(()) => return Ok(()),
                    Err(_) => ctrl_c_armed = false,
                },
                res = &mut open => break res?,
            }
        };
        resume.reopened();
        loop {
            tokio::select! {
                res = &mut ctrl_c, if ctrl_c_armed => match res {
                    Ok(()) => return Ok(()),
                    Err(_) => ctrl_c_armed = false,
                },
                msg = stream.message() => match msg {
                    Ok(Some(event)) => {
                        for event in resume.next(event) {
                            emit(&format!("{}\n", watch_line(&event, output, context)?))?;
                        }
                    }
                    Ok(None) => return Ok(()),
                    Err(status) if should_retry(Idempotency::Read, &AttemptError::Call(status.clone())) => {
                        let mut err = io::stderr().lock();
                        let from = context.map(|c| format!("context {c}: ")).unwrap_or_default();
                        let _ = writeln!(err, "watch: {from}the stream ended ({}); reconnecting", status_line(&status));
                        break;
                    }
                    Err(status) => return Err(status.into()),
                },
            }
        }
    }
}

/// What a watch has printed, so that the snapshot a reopened stream starts with prints only
/// what changed while the stream was down: a Deployment unchanged is not printed again, one that
/// changed is MODIFIED, one that is new is ADDED, one missing from the snapshot is DELETED (its
/// last state), and the second SYNCED is not printed.
#[derive(Default)]
struct Resume {
    /// The last state printed of each Deployment, by namespace and name.
    seen: BTreeMap<(String, String), Deployment>,
    /// Whether a first snapshot was complete (SYNCED) before the stream was reopened.
    synced: bool,
    /// While a reopened stream's snapshot is arriving: the Deployments it has named so far.
    resnapshot: Option<BTreeSet<(String, String)>>,
}

impl Resume {
    /// A new stream was opened: after a complete snapshot, its snapshot is a resumption.
    fn reopened(&mut self) {
        if self.synced {
            self.resnapshot = Some(BTreeSet::new());
        } else {
            // The first snapshot was cut short: the new one starts over, and so does the output.
            self.seen.clear();
        }
    }

    /// The events to print for `event`.
    fn next(&mut self, event: WatchDeploymentsResponse) -> Vec<WatchDeploymentsResponse> {
        let key = |d: &Deployment| (d.namespace.clone(), d.name.clone());
        let kind = EventType::try_from(event.r#type).unwrap_or(EventType::Unspecified);
        if let Some(named) = self.resnapshot.as_mut() {
            match (kind, event.deployment) {
                (EventType::Added, Some(d)) => {
                    named.insert(key(&d));
                    let out = match self.seen.get(&key(&d)) {
                        Some(before) if *before == d => return Vec::new(),
                        Some(_) => EventType::Modified,
                        None => EventType::Added,
                    };
                    self.seen.insert(key(&d), d.clone());
                    return vec![WatchDeploymentsResponse { r#type: out as i32, deployment: Some(d) }];
                }
                (EventType::Synced, _) => {
                    let gone: Vec<_> = self.seen.keys().filter(|k| !named.contains(*k)).cloned().collect();
                    self.resnapshot = None;
                    return gone
                        .into_iter()
                        .filter_map(|k| self.seen.remove(&k))
                        .map(|d| WatchDeploymentsResponse { r#type: EventType::Deleted as i32, deployment: Some(d) })
                        .collect();
                }
                // Not a snapshot event: the server ended the snapshot without SYNCED.
                (_, deployment) => {
                    self.resnapshot = None;
                    return self.next(WatchDeploymentsResponse { r#type: event.r#type, deployment });
                }
            }
        }
        match (kind, &event.deployment) {
            (EventType::Added | EventType::Modified, Some(d)) => {
                self.seen.insert(key(d), d.clone());
            }
            (EventType::Deleted, Some(d)) => {
                self.seen.remove(&key(d));
            }
            (EventType::Synced, _) => self.synced = true,
            _ => {}
        }
        vec![event]
    }
}

/// One event as `watch` prints it (no newline): [`render_watch_event`] or the compact
/// [`watch_event_json`], with the context first (`CONTEXT TYPE NAMESPACE/NAME ...`) or as a
/// `"context"` key when the stream is one of a fleet's.
pub(super) fn watch_line(
    event: &WatchDeploymentsResponse,
    output: Output,
    context: Option<&str>,
) -> Result<String, CliError> {
    Ok(match (output, context) {
        (Output::Table, None) => render_watch_event(event),
        (Output::Table, Some(c)) => format!("{c} {}", render_watch_event(event)),
        (Output::Json, context) => {
            let mut v = watch_event_json(event)?;
            if let (Some(c), Value::Object(map)) = (context, &mut v) {
                map.insert("context".into(), Value::String(c.to_string()));
            }
            v.to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: EventType, name: &str, replicas: i32) -> WatchDeploymentsResponse {
        let deployment = (!name.is_empty()).then(|| Deployment {
            namespace: "shop".into(),
            name: name.into(),
            spec_replicas: replicas,
            ..Default::default()
        });
        WatchDeploymentsResponse { r#type: t as i32, deployment }
    }

    fn names(events: Vec<WatchDeploymentsResponse>) -> Vec<(EventType, String)> {
        events
            .into_iter()
            .map(|e| (EventType::try_from(e.r#type).unwrap(), e.deployment.map(|d| d.name).unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_reopened_watch_prints_only_what_changed_while_it_was_down() {
        use EventType::*;
        let mut r = Resume::default();
        r.reopened();
        for e in [ev(Added, "web", 2), ev(Added, "cart", 1), ev(Added, "old", 1), ev(Synced, "", 0)] {
            assert_eq!(r.next(e.clone()).len(), 1, "the first snapshot is printed as it comes");
        }
        assert_eq!(names(r.next(ev(Modified, "web", 3))), [(Modified, "web".to_string())]);
        // The stream is cut; the new one starts with a full snapshot.
        r.reopened();
        assert!(r.next(ev(Added, "web", 3)).is_empty(), "unchanged: not printed again");
        assert_eq!(names(r.next(ev(Added, "cart", 4))), [(Modified, "cart".to_string())]);
        assert_eq!(names(r.next(ev(Added, "new", 1))), [(Added, "new".to_string())]);
        // SYNCED: what the snapshot did not name was deleted meanwhile; no second SYNCED.
        assert_eq!(names(r.next(ev(Synced, "", 0))), [(Deleted, "old".to_string())]);
        // Then events pass as they come.
        assert_eq!(names(r.next(ev(Deleted, "new", 1))), [(Deleted, "new".to_string())]);
        assert_eq!(names(r.next(ev(Modified, "web", 5))), [(Modified, "web".to_string())]);
    }

    #[test]
    fn a_watch_cut_before_its_first_snapshot_ended_starts_over() {
        use EventType::*;
        let mut r = Resume::default();
        r.reopened();
        assert_eq!(r.next(ev(Added, "web", 2)).len(), 1);
        r.reopened();
        // No SYNCED was seen: the new snapshot is printed whole, SYNCED included.
        assert_eq!(names(r.next(ev(Added, "web", 2))), [(Added, "web".to_string())]);
        assert_eq!(names(r.next(ev(Synced, "", 0))), [(Synced, String::new())]);
    }

    #[test]
    fn a_fleet_watch_line_names_its_context() {
        let e = ev(EventType::Modified, "web", 3);
        let plain = watch_line(&e, Output::Table, None).unwrap();
        assert_eq!(watch_line(&e, Output::Table, Some("prod-eu")).unwrap(), format!("prod-eu {plain}"));
        let json: Value = serde_json::from_str(&watch_line(&e, Output::Json, Some("prod-eu")).unwrap()).unwrap();
        assert_eq!(json["context"], "prod-eu");
        assert_eq!(json["type"], "EVENT_TYPE_MODIFIED");
        let json: Value = serde_json::from_str(&watch_line(&e, Output::Json, None).unwrap()).unwrap();
        assert!(json.get("context").is_none(), "{json}");
    }
}
