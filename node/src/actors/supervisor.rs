//! Restarts any write-path actor that fails, so a node never silently loses a capability.
//!
//! ractor's default would stop the supervisor when a child dies; here each failure is logged,
//! counted (`authd_actor_restarts_total`) and answered with a fresh actor in the same slot.

use arc_swap::ArcSwapOption;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::Deps;
use super::clients::{ClientsActor, ClientsMsg};
use super::sessions::{SessionsActor, SessionsMsg};
use super::users::{UsersActor, UsersMsg};

/// The current incarnation of each actor; swapped on restart.
#[derive(Default)]
pub struct ActorSlots {
    /// Users actor.
    pub users: ArcSwapOption<ActorRef<UsersMsg>>,
    /// Sessions actor.
    pub sessions: ArcSwapOption<ActorRef<SessionsMsg>>,
    /// Client-registry actor.
    pub clients: ArcSwapOption<ActorRef<ClientsMsg>>,
}

/// The root of a node's actor tree.
pub struct Supervisor;

/// Supervisor state: what it needs to respawn children.
pub struct SupState {
    deps: Deps,
    slots: super::Slots,
}

async fn spawn_users(me: &ActorCell, st: &SupState) -> Result<(), ActorProcessingErr> {
    let (r, _) = Actor::spawn_linked(None, UsersActor, st.deps.clone(), me.clone()).await?;
    st.slots.users.store(Some(r.into()));
    Ok(())
}

async fn spawn_sessions(me: &ActorCell, st: &SupState) -> Result<(), ActorProcessingErr> {
    let (r, _) = Actor::spawn_linked(None, SessionsActor, st.deps.clone(), me.clone()).await?;
    st.slots.sessions.store(Some(r.into()));
    Ok(())
}

async fn spawn_clients(me: &ActorCell, st: &SupState) -> Result<(), ActorProcessingErr> {
    let (r, _) = Actor::spawn_linked(None, ClientsActor, st.deps.clone(), me.clone()).await?;
    st.slots.clients.store(Some(r.into()));
    Ok(())
}

fn is(cell: &ActorCell, slot: Option<ractor::ActorId>) -> bool {
    slot == Some(cell.get_id())
}

impl Actor for Supervisor {
    type Msg = ();
    type State = SupState;
    type Arguments = (Deps, super::Slots);

    async fn pre_start(
        &self,
        me: ActorRef<()>,
        (deps, slots): Self::Arguments,
    ) -> Result<SupState, ActorProcessingErr> {
        let st = SupState { deps, slots };
        spawn_users(&me.get_cell(), &st).await?;
        spawn_sessions(&me.get_cell(), &st).await?;
        spawn_clients(&me.get_cell(), &st).await?;
        Ok(st)
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<()>,
        evt: SupervisionEvent,
        st: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match &evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell.clone(), format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell.clone(), format!("stopped: {reason:?}"))
            }
            _ => return Ok(()),
        };
        let users_id = st.slots.users.load().as_ref().map(|r| r.get_id());
        let sessions_id = st.slots.sessions.load().as_ref().map(|r| r.get_id());
        let clients_id = st.slots.clients.load().as_ref().map(|r| r.get_id());
        let which = if is(&cell, users_id) {
            spawn_users(&me.get_cell(), st).await?;
            "users"
        } else if is(&cell, sessions_id) {
            spawn_sessions(&me.get_cell(), st).await?;
            "sessions"
        } else if is(&cell, clients_id) {
            spawn_clients(&me.get_cell(), st).await?;
            "clients"
        } else {
            return Ok(());
        };
        tracing::error!(actor = which, %why, "actor died; restarted");
        metrics::counter!("authd_actor_restarts_total", "actor" => which).increment(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use authd_raft::sm_store::StateMachineStore;
    use authd_web::{BackendError, NewUserRequest};

    use super::*;
    use crate::passwords::Hasher;
    use crate::proposer::Proposer;

    #[tokio::test]
    async fn a_killed_actor_is_replaced_and_serves_again() {
        let dir = tempfile::tempdir().unwrap();
        let sm = StateMachineStore::open(dir.path()).unwrap();
        let deps = Deps {
            proposer: Proposer::detached(),
            reader: sm.reader(),
            hasher: Hasher::new(1, &[]),
            session_ttl_secs: 60,
            max_sessions_per_user: 100,
        };
        let slots = Arc::new(ActorSlots::default());
        let (sup, _) = Actor::spawn(None, Supervisor, (deps, slots.clone()))
            .await
            .unwrap();
        let first = slots.users.load_full().unwrap();
        let first_id = first.get_id();
        first.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        let replaced = loop {
            let now = slots.users.load_full().unwrap();
            if now.get_id() != first_id {
                break now;
            }
            assert!(Instant::now() < deadline, "users actor was not restarted");
            tokio::task::yield_now().await;
        };
        // The replacement answers (a validation error needs no Raft).
        let req = NewUserRequest {
            username: "x".into(),
            email: "bad".into(),
            password: "p".into(),
            admin: false,
        };
        let r = replaced
            .call(|p| UsersMsg::Add(req, p), Some(Duration::from_secs(5)))
            .await
            .unwrap();
        assert!(matches!(
            r,
            ractor::rpc::CallResult::Success(Err(BackendError::Invalid(_)))
        ));
        assert_eq!(
            slots.sessions.load_full().map(|s| s.get_status()),
            Some(ractor::ActorStatus::Running)
        );
        sup.stop(None);
    }
}
