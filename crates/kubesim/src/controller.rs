//! The built-in Deployment controller: after a Deployment's spec changes, its status
//! converges to the spec after a configurable delay, as controller-manager and the kubelet
//! would make it (replicas, updated, ready, available, observedGeneration, conditions).
//! Paused Deployments are scaled too, as the real controller does; their Progressing
//! condition says `DeploymentPaused`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::managed_fields::Operation;
use crate::registry::{self, Ctx, Sub};
use crate::state::State;
use crate::store::ObjKey;

/// The field manager the controller writes status as.
pub const FIELD_MANAGER: &str = "kube-controller-manager";

/// Runs the controller until the process ends.
pub async fn run(state: Arc<State>) {
    loop {
        state.store.deployments_changed().await;
        let keys: Vec<ObjKey> = std::mem::take(&mut state.store.lock().deployment_changes);
        for key in keys {
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(state.config.deployment_delay).await;
                converge(&state, &key);
            });
        }
    }
}

/// The status a Deployment converges to.
pub fn desired_status(dep: &Value) -> Value {
    let replicas = dep.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let generation = dep.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let name = dep.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let paused = dep.pointer("/spec/paused").and_then(Value::as_bool).unwrap_or(false);
    let old_conditions = dep.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let now = registry::now();
    let condition = |type_: &str, status: &str, reason: &str, message: String| {
        // Keep lastTransitionTime when the status did not change, as the controller does.
        let prev = old_conditions.iter().find(|c| c["type"] == json!(type_));
        if let Some(p) = prev
            && p["status"] == json!(status)
            && p["reason"] == json!(reason)
            && p["message"] == json!(message)
        {
            return p.clone();
        }
        let transition = match prev {
            Some(p) if p["status"] == json!(status) => p["lastTransitionTime"].clone(),
            _ => json!(now),
        };
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastUpdateTime": now, "lastTransitionTime": transition})
    };
    let progressing = if paused {
        condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused".into())
    } else {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{name}-kubesim\" has successfully progressed."),
        )
    };
    let mut status = json!({
        "observedGeneration": generation,
        "conditions": [
            condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.".into()),
            progressing,
        ],
    });
    // Zero counts are omitted, as the API server's omitempty does.
    for f in ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"] {
        if replicas > 0 {
            status[f] = json!(replicas);
        }
    }
    status
}

fn converge(state: &State, key: &ObjKey) {
    let Some(def) = state.resource("apps", "v1", "deployments") else { return };
    let ctx = Ctx {
        def,
        version: "v1".into(),
        namespace: key.0.clone(),
        manager: FIELD_MANAGER.into(),
        dry_run: false,
        gate: None,
    };
    let result = {
        let mut store = state.store.lock();
        let Some(cur) = store.get("apps/deployments", key) else { return };
        let status = desired_status(&cur);
        if cur.get("status") == Some(&status) {
            return;
        }
        registry::write_existing(&mut store, &ctx, &key.1, Sub::Status, "update", Operation::Update, |mut view| {
            view["status"] = status;
            Ok(view)
        })
    };
    if let Ok(w) = result {
        state.publish(w.rv, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_spec_and_omits_zero_counts() {
        let d = json!({"metadata": {"name": "web", "generation": 4}, "spec": {"replicas": 3}});
        let s = desired_status(&d);
        assert_eq!(s["readyReplicas"], 3);
        assert_eq!(s["observedGeneration"], 4);
        let zero = desired_status(&json!({"metadata": {"name": "web"}, "spec": {"replicas": 0}}));
        assert!(zero.get("readyReplicas").is_none());
        let paused = desired_status(&json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "paused": true}}));
        assert_eq!(paused["conditions"][1]["reason"], "DeploymentPaused");
    }
}
