//! The "Connected applications" page's side of [`NodeBackend`]: a user's grants from local
//! state, and withdrawing one client's access as one revoking command.

use authd_raft::{Applied, Command};
use authd_web::BackendError;
use authd_web::pages::applications::{ConnectedApp, ConnectedApps};

use crate::actors::clients::ClientsMsg;
use crate::actors::{map_outcome, now_ms};
use crate::backend::{NodeBackend, ask};

impl ConnectedApps for NodeBackend {
    fn connected_apps(&self, user_id: u64) -> Vec<ConnectedApp> {
        let view = self.inner().reader.load();
        view.state
            .user_grants(user_id, now_ms())
            .into_iter()
            .map(|g| ConnectedApp {
                name: view
                    .state
                    .client(&g.client_id)
                    .map_or_else(|| g.client_id.clone(), |c| c.name.clone()),
                client_id: g.client_id,
                scopes: g.scopes.into_iter().collect(),
                since_ms: g.since_ms,
            })
            .collect()
    }

    async fn revoke_app(&self, user_id: u64, client_id: String) -> Result<u64, BackendError> {
        let cmd = Command::RevokeUserClient { user_id, client_id };
        let slot = self.inner().slots.clients.load_full();
        let (reply, _) = ask(slot, |p| ClientsMsg::Grant(cmd, p)).await?;
        match map_outcome(Ok(reply))? {
            Applied::Ended(n) => Ok(n),
            _ => Ok(0),
        }
    }
}
