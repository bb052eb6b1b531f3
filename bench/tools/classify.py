#!/usr/bin/env python3
"""Groups `perf script -F comm,tid,sym,ip` samples (with call stacks) of authd nodes by
component: the first rule whose pattern appears anywhere in a stack wins. Used by profile.sh.

    classify.py perf.txt [writes|auth]     (the rule set; writes by default)"""
import sys, collections
RULES = [
 ("WAL fdatasync (syscall, ext4, virtio kick)", ["fdatasync", "sync_data"]),
 ("WAL write/encode (writer thread)", ["log_store::writer"]),
 ("internal transport (frames, bincode, HMAC, TCP)", ["authd_raft::network", "raft_net"]),
 ("openraft replication", ["openraft::replication"]),
 ("snapshot build", ["build_snapshot", "SnapshotBuilder"]),
 ("state machine apply + publish", ["State::apply", "sm_store", "openraft::core::sm"]),
 ("log store append (encode, queue)", ["log_store::"]),
 ("operator signature check (HMAC-SHA256)", ["cli_auth", "sha2::"]),
 ("JSON (serde_json)", ["serde_json"]),
 ("proposer", ["authd::proposer"]),
 ("actors (ractor)", ["ractor", "authd::actors"]),
 ("openraft core", ["openraft::"]),
 ("HTTP (hyper, axum, tower)", ["hyper", "axum", "tower"]),
 ("scheduler: context switch, park, epoll, futex", ["finish_task_switch", "epoll_wait", "futex", "park", "__schedule"]),
]
# GET /auth: kernel work first (a send on loopback also delivers to the peer), then the handler's
# parts from the most specific to the most general.
AUTH_RULES = [
 ("kernel TCP send (incl. loopback delivery to the peer)", ["tcp_sendmsg", "__sys_sendto", "sock_write_iter"]),
 ("kernel TCP receive", ["tcp_recvmsg", "__sys_recvfrom", "sock_read_iter", "tcp_v4_rcv"]),
 ("scheduler: context switch, park, epoll, futex", ["epoll_wait", "futex", "finish_task_switch", "__schedule", "park"]),
 ("cookie JWT decode (jsonwebtoken: base64, JSON, HMAC-SHA256)", ["NgCookie::decode", "jsonwebtoken"]),
 ("metrics counter per decision", ["metrics::", "metrics_util", "metrics_exporter"]),
 ("authorize: lease, session lookup, cached upstream JWT", ["authz::", "Authorizer", "as authd_web::backend::Backend>::authoriz"]),
 ("handler: credential parsing, response headers", ["authn::", "cookies::"]),
 ("HTTP (hyper, axum, tower, http)", ["hyper", "axum", "tower", "http::"]),
 ("tokio runtime", ["tokio::"]),
]
if len(sys.argv) > 2 and sys.argv[2] == "auth":
    RULES = AUTH_RULES
MALLOC = ("malloc", "free", "_int_", "realloc", "calloc", "unlink_chunk", "malloc_consolidate", "cfree")
cats = collections.Counter(); mal = collections.Counter(); other = collections.Counter(); comm_c = collections.Counter()
total = 0
def flush(comm, frames):
    global total
    if not frames: return
    total += 1
    comm_c[comm] += 1
    text = "\n".join(frames)
    for name, pats in RULES:
        if any(p in text for p in pats):
            cats[name] += 1; break
    else:
        cats["other"] += 1; other[frames[0]] += 1
    top = frames[0]
    if any(top.startswith(m) or top == m for m in MALLOC) or "malloc" in top:
        # attribute malloc to the component
        for name, pats in RULES:
            if any(p in text for p in pats):
                mal[name] += 1; break
        else:
            mal["other"] += 1
comm = None; frames = []
for line in open(sys.argv[1], errors="replace"):
    if not line.startswith("\t") and line.strip():
        flush(comm, frames); frames = []
        comm = line.split()[0]
    elif line.strip():
        parts = line.strip().split(None, 1)
        if len(parts) == 2: frames.append(parts[1])
flush(comm, frames)
print(f"{total} samples")
print("| component | % of node CPU | of which malloc/free % |")
print("|---|---:|---:|")
for name, n in cats.most_common():
    print(f"| {name} | {100*n/total:.1f} | {100*mal[name]/total:.1f} |")
print("\nby thread:", ", ".join(f"{c} {100*n/total:.1f}%" for c, n in comm_c.most_common()))
print("\ntop 'other' leaf symbols:", other.most_common(12))
