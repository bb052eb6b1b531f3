//! `/api/v1/cluster`: the node's Raft view for health tooling (public, reduced) and for
//! operators and admins (with the members and their addresses), and the membership changes,
//! which only operators (the cluster secret) may make.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::backend::{Backend, ClusterStatus, MemberView};
use crate::error::ApiError;
use crate::operator::{MaybeSigned, Operator};

/// What anyone may read: enough for health checks, nothing about the internal network.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublicClusterStatus {
    /// This node.
    pub node_id: u64,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: String,
    /// The leader this node knows of.
    pub leader_id: Option<u64>,
    /// Current term.
    pub term: u64,
    /// Last applied log index.
    pub last_applied: Option<u64>,
}

impl From<ClusterStatus> for PublicClusterStatus {
    fn from(s: ClusterStatus) -> Self {
        PublicClusterStatus {
            node_id: s.node_id,
            role: s.role,
            leader_id: s.leader_id,
            term: s.term,
            last_applied: s.last_applied,
        }
    }
}

/// `GET /api/v1/cluster`: the full status (members, addresses, log indexes) to a signed or
/// admin request, the reduced one to an anonymous caller.
pub async fn status<B: Backend>(
    State(b): State<B>,
    MaybeSigned(privileged): MaybeSigned,
) -> Response {
    let status = b.cluster_status();
    if privileged {
        Json(status).into_response()
    } else {
        Json(PublicClusterStatus::from(status)).into_response()
    }
}

/// `POST /api/v1/cluster/members` (operator only).
pub async fn add_member<B: Backend>(
    State(b): State<B>,
    Operator(m): Operator<MemberView>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(b.add_member(m).await?))
}

/// `DELETE /api/v1/cluster/members/{id}` (operator only).
pub async fn remove_member<B: Backend>(
    State(b): State<B>,
    Path(id): Path<u64>,
    Operator(()): Operator<()>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(b.remove_member(id).await?))
}
