"""Sums a `perf script -F pid,tid,ip,sym,dso` recording of the gateway by component.

Used by scripts/profile-fanout.sh: reads the samples on stdin, keeps those of the process whose
frames are in the gateway binary (argv[1]), and gives each sample to the first component, in
the order below, that one of its frames belongs to. A sample in none of them (the kernel's
TCP, wake-ups, the allocator, a stack perf could not unwind) is counted by its leaf function.
Then the hottest functions by self time.
"""

import collections
import sys

# (component, substrings of a frame's function name), first match wins.
COMPONENTS = [
    ("gateway: SigV4 check of @connections calls", ["wspush_gateway::apigw::sigv4"]),
    ("runtime: SigV4 signing", ["orchestrator::auth::sign_request", "aws_sigv4::"]),
    ("runtime: HTTP client (hyper, pool)", ["hyper_util::client::legacy", "dispatch::Client",
                                            "aws_smithy_http_client::client::connect"]),
    ("runtime: SDK orchestrator (interceptors, serde, timeouts)", ["aws_smithy_runtime::client::orchestrator",
                                                                   "aws_smithy_runtime::client::"]),
    ("runtime: signed request (URL, headers, answer)", ["wspush_runtime::push::signed_http"]),
    ("runtime: fan-out and adaptive limit", ["wspush_runtime::fanout", "wspush_runtime::push",
                                             "futures_unordered"]),
    ("gateway: @connections handler and registry", ["wspush_gateway::connections", "wspush_gateway::registry"]),
    ("gateway: HTTP server (hyper, axum)", ["dispatch::Server", "axum::", "wspush_gateway::serve"]),
    ("gateway: WebSocket writes", ["wspush_gateway::websocket", "tungstenite"]),
    ("tokio: scheduler and I/O driver", ["tokio::runtime::scheduler", "tokio::runtime::io::driver",
                                         "tokio::runtime::time"]),
]


def samples(lines):
    """Yields (pid, frames) per sample; frames are (function, dso), leaf first."""
    pid, frames = None, []
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith("\t"):  # a sample's header: " pid/tid"; its frames are tab-indented
            if pid is not None:
                yield pid, frames
            pid, frames = line.split("/")[0].strip(), []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            function, _, dso = parts[1].rpartition(" (")
            frames.append((function, dso.rstrip(")")))
    if pid is not None:
        yield pid, frames


def component(frames):
    for name, needles in COMPONENTS:
        if any(needle in function for function, _ in frames for needle in needles):
            return name
    if not frames:
        return "(no stack)"
    function, dso = frames[0]
    where = "kernel" if "kernel" in dso else dso.rsplit("/", 1)[-1]
    return f"other, leaf in {where}: {function[:90]}"


def main():
    binary = sys.argv[1]
    by_pid = collections.defaultdict(list)
    gateway_pids = set()
    for pid, frames in samples(sys.stdin):
        by_pid[pid].append(frames)
        if any(dso == binary for _, dso in frames):
            gateway_pids.add(pid)
    if len(gateway_pids) != 1:
        sys.exit(f"expected one gateway process among the samples, found {sorted(gateway_pids)}")
    gateway = by_pid[gateway_pids.pop()]
    counts = collections.Counter(component(frames) for frames in gateway)
    total = len(gateway)
    print(f"{total} samples of the gateway's worker threads")
    named = [(n, c) for n, c in counts.most_common() if not n.startswith("other")]
    other = [(n, c) for n, c in counts.most_common() if n.startswith("other")]
    for name, count in named:
        print(f"  {100 * count / total:5.1f}%  {name}")
    print(f"  {100 * sum(c for _, c in other) / total:5.1f}%  other (kernel TCP, wake-ups, allocator...), "
          "largest:")
    for name, count in other[:12]:
        print(f"           {100 * count / total:5.1f}%  {name}")
    leaves = collections.Counter(frames[0][0][:110] for frames in gateway if frames)
    print("hottest functions of the gateway (self time):")
    for name, count in leaves.most_common(25):
        print(f"  {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
