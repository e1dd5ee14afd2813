#!/usr/bin/env python3
"""The tables and the verdicts of scripts/bench, from what its parts left in target/bench.

Each part keeps its raw output there (criterion's estimates, wrk's text, the server's stored
counts, the test's and lambda-init's Markdown); this reads them back, so the summary is made
of the same numbers as the tables above it.
  report.py criterion OUT CRITERION_DIR   medians of the benches run since OUT/started
  report.py load OUT                      bare reader vs chatsource, and acknowledged = kept
  report.py floor OUT                     `chatsource-load floor`'s table and its ratios
  report.py summary OUT CRITERION_DIR PART...   the four goals, PASS/FAIL
"""
import glob
import json
import os
import re
import sys

# Issue 14's goals.
LOAD_RATIO_MIN = 0.25
LOAD_P99_MAX_MS = 20.0
LOAD_GOAL_CONNECTIONS = 64
CPU_RATIO_MAX = 2.0
INIT_RATIO_MAX = 2.0
# "Peak memory near the bare binary's" has no number: the memory is shown (ratio and
# difference) and the verdict is the init ratio's alone.


def fmt_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.0f} {unit}"
    return f"{ns:.3g} ns"


def fmt_int(n):
    return f"{n:,.0f}".replace(",", " ")


# criterion ------------------------------------------------------------------------------


def criterion_results(out, cdir):
    """(name, median ns, low, high) of every benchmark whose results this run wrote."""
    since = os.path.getmtime(os.path.join(out, "started"))
    found = []
    for est in glob.glob(os.path.join(cdir, "**", "new", "estimates.json"), recursive=True):
        if os.path.getmtime(est) < since:
            continue
        new = os.path.dirname(est)
        name = os.path.relpath(os.path.dirname(new), cdir)
        try:
            with open(os.path.join(new, "benchmark.json")) as f:
                name = json.load(f).get("full_id", name)
        except (OSError, ValueError):
            pass
        with open(est) as f:
            median = json.load(f)["median"]
        ci = median.get("confidence_interval", {})
        found.append((name, median["point_estimate"], ci.get("lower_bound"), ci.get("upper_bound")))
    return sorted(found)


def cpu_ratio(results):
    """(full, bare, ratio) for the Jivo chat_finished group, the names matched loosely."""
    jivo = [r for r in results if "jivo" in r[0].lower()]
    bare = [r for r in jivo if "bare" in r[0].lower()]
    full = [r for r in jivo if "appeal" in r[0].lower() and "attribute" in r[0].lower()]
    if not bare or not full:
        return None
    return full[0], bare[0], full[0][1] / bare[0][1]


def criterion(out, cdir):
    results = criterion_results(out, cdir)
    if not results:
        print("no criterion results were written by this run\n")
        return
    print("| benchmark | median | 95% interval of the median |")
    print("|---|---|---|")
    for name, median, low, high in results:
        interval = f"{fmt_ns(low)} .. {fmt_ns(high)}" if low is not None else ""
        print(f"| `{name}` | {fmt_ns(median)} | {interval} |")
    print()
    r = cpu_ratio(results)
    if r:
        full, bare, ratio = r
        print(f"`{full[0]}` / `{bare[0]}` = {fmt_ns(full[1])} / {fmt_ns(bare[1])} = **{ratio:.2f}x**\n")
    else:
        print("no bare-parse baseline in the Jivo group (or no full line): no ratio\n")


# wrk ------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def wrk(path):
    """The figures of one `wrk --latency` output, or None when the run left none."""
    try:
        text = open(path).read()
    except OSError:
        return None
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
    if not rps or not total:
        return None
    lat = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M)}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    requests = int(total.group(1))
    bad = int(non2xx.group(1)) if non2xx else 0
    return {
        "rps": float(rps.group(1)),
        "requests": requests,
        "duration": total.group(2),
        "p50": lat.get("50"),
        "p90": lat.get("90"),
        "p99": lat.get("99"),
        "non2xx": bad,
        "socket": sum(int(x) for x in sock.groups()) if sock else 0,
        "socket_text": ", ".join(f"{k} {v}" for k, v in zip(("connect", "read", "write", "timeout"), sock.groups())) if sock else "",
        "answered": requests - bad,
    }


def cpu_per_request(out, who, c, run):
    """The server's CPU time (user + system) per request wrk counted, in µs."""
    try:
        before, after = (int(x) for x in open(os.path.join(out, f"cpu-{who}-{c}.txt")).read().split())
    except (OSError, ValueError):
        return None
    if not run or not run["requests"]:
        return None
    return (after - before) / os.sysconf("SC_CLK_TCK") * 1e6 / run["requests"]


def us_text(v):
    return f"{v:.0f} µs" if v is not None else "?"


def runs(out):
    """Connections -> (bare, ours, stored) for every load round found."""
    found = {}
    for path in glob.glob(os.path.join(out, "wrk-ours-*.txt")):
        c = int(re.search(r"wrk-ours-(\d+)\.txt", path).group(1))
        stored = None
        try:
            with open(os.path.join(out, f"stored-{c}.json")) as f:
                stored = json.load(f)
        except (OSError, ValueError):
            pass
        found[c] = (wrk(os.path.join(out, f"wrk-bare-{c}.txt")), wrk(path), stored)
    return dict(sorted(found.items()))


def kept_verdict(c, ours, stored):
    """Every 2xx'd webhook kept: at least as many complete appeals as 2xx answers. The server
    may hold more, but no more than wrk had in flight when it stopped counting (one request per
    connection, plus those it gave up on as timeouts): the server kept their raw events, and
    finished those whose handling was not cut short by wrk closing the connection (the rest
    stay `received` until the next start recovers them)."""
    if ours is None or stored is None:
        return False, "not read back"
    answered, appeals = ours["answered"], stored["appeals"]
    in_flight = c + ours["socket"]
    ok = (
        appeals >= answered
        and stored["complete"] == appeals
        and stored["raw_events"] - answered <= in_flight
    )
    return ok, appeals - answered


def ms_text(v):
    return f"{v:.1f} ms" if v is not None else "?"


def load(out):
    rounds = runs(out)
    if not rounds:
        print("no load runs\n")
        return
    print("| connections | bare req/s | ours req/s | ratio | bare p99 | ours p99 | ours p50 | errors (ours; bare) |")
    print("|---|---|---|---|---|---|---|---|")
    for c, (bare, ours, _) in rounds.items():
        if not bare or not ours:
            print(f"| {c} | {'?' if not bare else fmt_int(bare['rps'])} | {'?' if not ours else fmt_int(ours['rps'])} | | | | | a run left no figures |")
            continue
        ratio = ours["rps"] / bare["rps"]
        errors = f"{ours['non2xx']} non-2xx, {ours['socket']} socket; {bare['non2xx']} non-2xx, {bare['socket']} socket"
        print(
            f"| {c} | {fmt_int(bare['rps'])} | {fmt_int(ours['rps'])} | **{ratio:.1%}** | {ms_text(bare['p99'])} "
            f"| **{ms_text(ours['p99'])}** | {ms_text(ours['p50'])} | {errors} |"
        )
    print()
    print("Server CPU time (user + system, from /proc) per request wrk counted, less disturbed by the")
    print("other load on the shared cores than throughput is:\n")
    print("| connections | bare | ours | ours / bare |")
    print("|---|---|---|---|")
    for c, (bare, ours, _) in rounds.items():
        b, o = cpu_per_request(out, "bare", c, bare), cpu_per_request(out, "ours", c, ours)
        ratio = f"{o / b:.0f}x" if b and o is not None else ""
        print(f"| {c} | {us_text(b)} | {us_text(o)} | {ratio} |")
    print()
    print("Acknowledged = kept (read back through `GET /api/appeals` and `GET /api/raw-events` once they stopped changing):\n")
    print("| connections | requests wrk counted | 2xx answered | appeals kept (complete) | raw events kept (by status) | appeals − answered | verdict |")
    print("|---|---|---|---|---|---|---|")
    for c, (_, ours, stored) in rounds.items():
        ok, extra = kept_verdict(c, ours, stored)
        if ours is None or stored is None:
            print(f"| {c} | | | | | | FAIL: {extra} |")
            continue
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(stored["raw_statuses"].items()))
        why = "every 2xx kept" if ok else "FAIL"
        print(
            f"| {c} | {fmt_int(ours['requests'])} | {fmt_int(ours['answered'])} | {fmt_int(stored['appeals'])} ({fmt_int(stored['complete'])}) "
            f"| {fmt_int(stored['raw_events'])} ({statuses}) | {extra} | {why} |"
        )
    print(
        "\nThe server may hold more than wrk counted, by at most the requests in flight when wrk "
        "stopped (one per connection, plus timeouts): their raw events are kept, and those whose "
        "handling wrk's closing the connection cut short stay `received` until the next start.\n"
    )


def floor_rows(out):
    """Step name -> (webhooks/s, CPU µs per webhook, p99 ms) from `chatsource-load floor`'s table."""
    rows = {}
    try:
        lines = open(os.path.join(out, "floor.md")).read().splitlines()
    except OSError:
        return rows
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1] and cells[1][0].isdigit():
            # A step with failures measured less work than the webhooks make: no floor.
            if not cells[5].startswith("0 of"):
                continue
            rows["alone" if "alone" in cells[0] else "ingest"] = (number(cells[1]), number(cells[2]), number(cells[4]))
    return rows


def floor(out):
    print(open(os.path.join(out, "floor.md")).read())
    bare = runs(out).get(LOAD_GOAL_CONNECTIONS, (None, None, None))[0]
    rows = floor_rows(out)
    if "alone" not in rows:
        print("(no replay without failures: no floor to compare)\n")
        return
    if not bare:
        print(f"(no bare-reader round at {LOAD_GOAL_CONNECTIONS} connections to compare with)\n")
        return
    print(f"Against the bare reader's {fmt_int(bare['rps'])} req/s at {LOAD_GOAL_CONNECTIONS} connections:\n")
    for name, (rps, _, _) in (("in-process ingest", rows.get("ingest", (None,) * 3)), ("the store's writes alone", rows["alone"])):
        if rps:
            print(f"- {name}: {rps / bare['rps']:.1%}")
    goal = LOAD_RATIO_MIN * bare["rps"]
    print(
        f"- goal 1's {LOAD_RATIO_MIN:.0%} is {fmt_int(goal)} webhooks/s: "
        f"{goal / rows['alone'][0]:.1f}x what the store alone commits\n"
    )


# the Lambda init table ------------------------------------------------------------------


def number(cell):
    m = re.search(r"[\d]+(?:[.,]\d+)?", cell.replace(" ", ""))
    return float(m.group(0).replace(",", ".")) if m else None


def init_ratios(path):
    """(init ratio, memory ratio, what was compared) from lambda-init's Markdown table: the
    row naming `bare` against the row naming `jivo`; the column naming init and first (else the
    sum of an init and a first-invocation column), the column naming peak, RSS or memory."""
    try:
        rows = [l.strip().strip("|").split("|") for l in open(path) if l.startswith("|")]
    except OSError:
        return None
    rows = [[c.strip() for c in r] for r in rows if not all(set(c.strip()) <= set("-: ") for c in r)]
    if len(rows) < 3:
        return None
    head = [h.lower() for h in rows[0]]

    def col(pred):
        return next((i for i, h in enumerate(head) if pred(h)), None)

    both = col(lambda h: "init" in h and "first" in h)
    init = col(lambda h: "init" in h and "first" not in h)
    first = col(lambda h: "first" in h and "init" not in h)
    mem = col(lambda h: "peak" in h or "rss" in h or "memory" in h)
    bare = next((r for r in rows[1:] if "bare" in r[0].lower()), None)
    ours = next((r for r in rows[1:] if "jivo" in r[0].lower()), None)
    if not bare or not ours:
        return None

    def start(r):
        if both is not None:
            return number(r[both])
        if init is not None and first is not None:
            a, b = number(r[init]), number(r[first])
            return a + b if a is not None and b is not None else None
        return None

    s_bare, s_ours = start(bare), start(ours)
    m_bare = number(bare[mem]) if mem is not None else None
    m_ours = number(ours[mem]) if mem is not None else None
    return {
        "init": s_ours / s_bare if s_bare and s_ours is not None else None,
        "memory": m_ours / m_bare if m_bare and m_ours is not None else None,
        "init_text": f"{s_ours:g} vs {s_bare:g}, in the table's unit" if s_bare and s_ours is not None else "",
        "memory_text": f"{m_ours:g} vs {m_bare:g}, +{m_ours - m_bare:g}, in the table's unit"
        if m_bare and m_ours is not None
        else "",
    }


# the summary ----------------------------------------------------------------------------


def verdict(ok):
    return "**PASS**" if ok else "**FAIL**"


def floor_note(out, bare):
    alone = floor_rows(out).get("alone")
    if not alone or not alone[0]:
        return ""
    return f"; the store's writes alone: {fmt_int(alone[0])}/s = {alone[0] / bare['rps']:.1%}"


def summary(out, cdir, parts):
    print("| goal | measured (this run) | target | verdict |")
    print("|---|---|---|---|")
    if "load" in parts:
        rounds = runs(out)
        bare, ours, stored = rounds.get(LOAD_GOAL_CONNECTIONS, (None, None, None))
        if bare and ours:
            ratio = ours["rps"] / bare["rps"]
            kept, _ = kept_verdict(LOAD_GOAL_CONNECTIONS, ours, stored)
            clean = ours["non2xx"] == 0 and ours["socket"] == 0
            ok = ratio >= LOAD_RATIO_MIN and (ours["p99"] or 1e9) <= LOAD_P99_MAX_MS and kept and clean
            c = LOAD_GOAL_CONNECTIONS
            b_cpu, o_cpu = cpu_per_request(out, "bare", c, bare), cpu_per_request(out, "ours", c, ours)
            print(
                f"| 1. local durable ingest vs the bare reader, {LOAD_GOAL_CONNECTIONS} connections "
                f"| {ratio:.1%} ({fmt_int(ours['rps'])} vs {fmt_int(bare['rps'])} req/s), p99 {ms_text(ours['p99'])}, "
                f"{'every 2xx kept' if kept else 'acknowledged NOT all kept'}, "
                f"{ours['non2xx']} non-2xx, {ours['socket']} socket errors; "
                f"server CPU per request {us_text(o_cpu)} vs {us_text(b_cpu)}{floor_note(out, bare)} "
                f"| ≥ {LOAD_RATIO_MIN:.0%}, p99 ≤ {LOAD_P99_MAX_MS:.0f} ms, no errors, all kept | {verdict(ok)} |"
            )
        else:
            print(f"| 1. local durable ingest vs the bare reader | no {LOAD_GOAL_CONNECTIONS}-connection round | | not measured |")
    if "calls" in parts:
        try:
            lines = [l for l in open(os.path.join(out, "calls.md")) if l.startswith("|")]
        except OSError:
            lines = []
        rows = max(len(lines) - 2, 0)
        shown = f"table above ({rows} rows)" if rows else "not available"
        print(f"| 2. DynamoDB requests per webhook kind | {shown} | shown per kind | {'shown' if rows else 'not measured'} |")
    if "criterion" in parts:
        r = cpu_ratio(criterion_results(out, cdir))
        if r:
            full, bare, ratio = r
            print(
                f"| 3. decide + appeal + attribute vs a bare `serde_json::from_slice::<Value>` "
                f"| {ratio:.2f}x ({fmt_ns(full[1])} vs {fmt_ns(bare[1])}) | ≤ {CPU_RATIO_MAX:.0f}x | {verdict(ratio <= CPU_RATIO_MAX)} |"
            )
        else:
            print("| 3. decide + appeal + attribute vs a bare parse | no bare-parse line in the bench | ≤ 2x | not measured |")
    if "init" in parts:
        r = init_ratios(os.path.join(out, "init.md"))
        if r and r["init"] is not None:
            ok = r["init"] <= INIT_RATIO_MAX
            memory = (
                f"; peak memory {r['memory']:.2f}x ({r['memory_text']}; shown, not judged)"
                if r["memory"] is not None
                else "; peak memory not found"
            )
            print(
                f"| 4. Lambda init + first invocation vs a bare lambda_runtime binary "
                f"| {r['init']:.2f}x ({r['init_text']}){memory} | ≤ {INIT_RATIO_MAX:.0f}x, memory near | {verdict(ok)} |"
            )
        else:
            print("| 4. Lambda init + first invocation vs a bare binary | not available (or no `bare` and `jivo` rows to compare) | ≤ 2x | not measured |")
    print()


def main():
    what, out = sys.argv[1], sys.argv[2]
    if what == "criterion":
        criterion(out, sys.argv[3])
    elif what == "load":
        load(out)
    elif what == "floor":
        floor(out)
    elif what == "summary":
        summary(out, sys.argv[3], sys.argv[4:])
    else:
        sys.exit(f"unknown part {what}")


if __name__ == "__main__":
    main()
