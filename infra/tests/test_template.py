#!/usr/bin/env python3
"""Checks infra/template.yaml for what cfn-lint does not: Herald's own invariants.

cfn-lint validates the CloudFormation schema but not, e.g., a misspelt
FunctionResponseTypes value, a visibility timeout shorter than the consumer's
timeout, or a route wired to the wrong function. This script checks those, then
runs cfn-lint itself and fails on any finding.

Run from anywhere (paths are relative to this file):
    python3 infra/tests/test_template.py
Needs only cfn-lint (pip install cfn-lint). Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from cfnlint.decode import decode

INFRA = Path(__file__).resolve().parent.parent
TEMPLATE = INFRA / "template.yaml"
REPO = INFRA.parent

BINARIES = {"ingest", "dispatch-email", "magic-link"}
EXPECTED_ROUTES = {
    ("POST", "/v1/escalations"): "IngestFunction",
    ("GET", "/v1/escalations/{id}"): "IngestFunction",
    ("POST", "/v1/escalations/{id}/acknowledge"): "IngestFunction",
    ("POST", "/v1/escalations/{id}/resolve"): "IngestFunction",
    ("GET", "/l/{token}"): "MagicLinkFunction",
    ("POST", "/l/{token}"): "MagicLinkFunction",
}
DB_ENV = {
    "RUST_LOG",
    "HERALD_DATABASE_HOST",
    "HERALD_DATABASE_PORT",
    "HERALD_DATABASE_NAME",
    "HERALD_DATABASE_USER",
    "HERALD_DATABASE_SECRET_ARN",
    "HERALD_DATABASE_SSLMODE",
    "HERALD_DB_POOL_SIZE",
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
}
FUNCTION_ENV = {
    "IngestFunction": {"HERALD_QUEUE_URL_EMAIL"},
    "DispatchEmailFunction": {
        "HERALD_SES_FROM",
        "HERALD_PUBLIC_BASE_URL",
        "HERALD_MAGIC_LINK_TTL_SECS",
        "HERALD_MAX_ATTEMPTS",
    },
    "MagicLinkFunction": set(),
}

passed: list[str] = []
failed: list[str] = []


def check(ok: bool, what: str, detail: str = "") -> bool:
    if ok:
        passed.append(what)
        print(f"ok   {what}")
    else:
        failed.append(what)
        print(f"FAIL {what}" + (f": {detail}" if detail else ""))
    return ok


# ------------------------------------------------------------------ helpers


def ref_target(value) -> str | None:
    """Logical id behind {"Ref": X} or {"Fn::GetAtt": [X, attr]} / "X.attr"."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::GetAtt":
            if isinstance(arg, str):
                return arg.split(".", 1)[0]
            if isinstance(arg, list) and arg:
                return arg[0]
    return None


def getatt(value) -> tuple[str, str] | None:
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        arg = value["Fn::GetAtt"]
        if isinstance(arg, str) and "." in arg:
            res, attr = arg.split(".", 1)
            return res, attr
        if isinstance(arg, list) and len(arg) == 2:
            return arg[0], arg[1]
    return None


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def merged(globals_fn: dict, props: dict, key: str):
    return props.get(key, globals_fn.get(key))


def merged_env(globals_fn: dict, props: dict) -> dict:
    env = dict(globals_fn.get("Environment", {}).get("Variables", {}))
    env.update(props.get("Environment", {}).get("Variables", {}))
    return env


def workspace_binaries() -> set[str]:
    """[[bin]] names of the workspace's function packages (read-only cross-check)."""
    names: set[str] = set()
    for manifest in sorted(REPO.glob("functions/*/Cargo.toml")):
        data = tomllib.loads(manifest.read_text())
        for b in data.get("bin", []):
            names.add(b["name"])
    return names


def policy_statements(policies) -> list[dict]:
    out = []
    for p in as_list(policies or []):
        if isinstance(p, dict) and "Statement" in p:
            out.extend(as_list(p["Statement"]))
        elif isinstance(p, dict) and "PolicyDocument" in p:
            out.extend(as_list(p["PolicyDocument"].get("Statement", [])))
    return out


# ------------------------------------------------------------------ checks


def main() -> int:
    template, matches = decode(str(TEMPLATE))
    if not check(template is not None and not matches, f"{TEMPLATE.relative_to(REPO)} decodes",
                 "; ".join(str(m) for m in matches or [])):
        return finish()

    resources: dict = template["Resources"]
    globals_fn: dict = template.get("Globals", {}).get("Function", {})
    by_type = lambda t: {k: v for k, v in resources.items() if v.get("Type") == t}  # noqa: E731
    functions = by_type("AWS::Serverless::Function")
    queues = by_type("AWS::SQS::Queue")
    http_apis = by_type("AWS::Serverless::HttpApi")

    check(template.get("Transform") == "AWS::Serverless-2016-10-31", "SAM transform declared")
    check(set(functions) == set(FUNCTION_ENV), "functions are exactly " + ", ".join(sorted(FUNCTION_ENV)),
          f"found {sorted(functions)}")

    # --- every function: runtime, arch, handler, build method, binary
    ws_bins = workspace_binaries()
    seen_bins: dict[str, str] = {}
    for name, res in sorted(functions.items()):
        props = res.get("Properties", {})
        meta = res.get("Metadata", {})
        check(merged(globals_fn, props, "Runtime") == "provided.al2023", f"{name}: runtime provided.al2023")
        check(merged(globals_fn, props, "Architectures") == ["arm64"], f"{name}: architectures [arm64]")
        check(merged(globals_fn, props, "Handler") == "bootstrap", f"{name}: handler bootstrap")
        check(meta.get("BuildMethod") == "rust-cargolambda", f"{name}: BuildMethod rust-cargolambda",
              repr(meta.get("BuildMethod")))
        binary = meta.get("BuildProperties", {}).get("Binary")
        check(binary in BINARIES, f"{name}: Binary {binary!r} is one of {sorted(BINARIES)}")
        check(binary not in seen_bins, f"{name}: Binary not shared with another function",
              f"also used by {seen_bins.get(binary)}")
        seen_bins[binary] = name
        if ws_bins:
            check(binary in ws_bins, f"{name}: Binary {binary!r} is a [[bin]] of functions/*/Cargo.toml",
                  f"workspace has {sorted(ws_bins)}")
        code_uri = merged(globals_fn, props, "CodeUri")
        root = (INFRA / str(code_uri)).resolve() if isinstance(code_uri, str) else None
        check(root is not None and (root / "Cargo.toml").is_file()
              and "[workspace]" in (root / "Cargo.toml").read_text(),
              f"{name}: CodeUri {code_uri!r} is the Cargo workspace root")
        vpc = merged(globals_fn, props, "VpcConfig") or {}
        check(bool(vpc.get("SubnetIds")) and bool(vpc.get("SecurityGroupIds")), f"{name}: runs in the VPC")
        env = merged_env(globals_fn, props)
        missing = (DB_ENV | FUNCTION_ENV.get(name, set())) - set(env)
        check(not missing, f"{name}: environment complete", f"missing {sorted(missing)}")
        logging = merged(globals_fn, props, "LoggingConfig") or {}
        check(logging.get("LogFormat") == "JSON" or env.get("AWS_LAMBDA_LOG_FORMAT") == "JSON",
              f"{name}: JSON logs")
        timeout = merged(globals_fn, props, "Timeout")
        check(isinstance(timeout, int) and 1 <= timeout <= 900, f"{name}: Timeout set ({timeout})")

    check(set(seen_bins) == BINARIES, "every binary is deployed", f"deployed {sorted(seen_bins)}")

    # --- SQS: redrive for every non-DLQ queue
    dlqs: set[str] = set()
    for qname, q in queues.items():
        rp = q.get("Properties", {}).get("RedrivePolicy")
        if isinstance(rp, dict) and ref_target(rp.get("deadLetterTargetArn")):
            dlqs.add(ref_target(rp["deadLetterTargetArn"]))
    for qname in sorted(q for q in queues if q.endswith("DLQ")):
        check(qname in dlqs, f"{qname}: is the RedrivePolicy target of some queue")
    for qname, q in sorted(queues.items()):
        props = q.get("Properties", {})
        check(props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props,
              f"{qname}: encrypted at rest")
        if qname in dlqs or qname.endswith("DLQ"):
            check(props.get("MessageRetentionPeriod") == 1209600, f"{qname}: DLQ keeps messages 14 days",
                  repr(props.get("MessageRetentionPeriod")))
            continue
        rp = props.get("RedrivePolicy")
        target = getatt(rp.get("deadLetterTargetArn")) if isinstance(rp, dict) else None
        check(target is not None and target[1] == "Arn" and target[0] in queues and target[0] != qname,
              f"{qname}: RedrivePolicy targets an existing queue's Arn", repr(rp))
        mrc = rp.get("maxReceiveCount") if isinstance(rp, dict) else None
        check(isinstance(mrc, int) and 1 <= mrc <= 10, f"{qname}: maxReceiveCount in 1..10 ({mrc})")

    alarmed = {
        ref_target(d.get("Value"))
        for a in by_type("AWS::CloudWatch::Alarm").values()
        for d in a.get("Properties", {}).get("Dimensions", [])
        if d.get("Name") == "QueueName"
    }
    for dlq in sorted(dlqs):
        check(dlq in alarmed, f"{dlq}: has a CloudWatch alarm")

    # --- SQS event sources
    sqs_sources = 0
    for fname, res in sorted(functions.items()):
        props = res.get("Properties", {})
        timeout = merged(globals_fn, props, "Timeout") or 3
        for ename, ev in sorted(props.get("Events", {}).items()):
            if ev.get("Type") != "SQS":
                continue
            sqs_sources += 1
            ep = ev.get("Properties", {})
            where = f"{fname}.{ename}"
            check(ep.get("FunctionResponseTypes") == ["ReportBatchItemFailures"],
                  f"{where}: FunctionResponseTypes == ['ReportBatchItemFailures']",
                  repr(ep.get("FunctionResponseTypes")))
            bs = ep.get("BatchSize")
            check(isinstance(bs, int) and 1 <= bs <= 10, f"{where}: BatchSize set and <= 10 ({bs})")
            qid = ref_target(ep.get("Queue"))
            if not check(qid in queues, f"{where}: consumes a queue of this template ({qid})"):
                continue
            vt = queues[qid].get("Properties", {}).get("VisibilityTimeout", 30)
            check(isinstance(vt, int) and vt >= 6 * timeout,
                  f"{where}: {qid} VisibilityTimeout {vt} >= 6 x Timeout {timeout}")
            capped = (ep.get("ScalingConfig", {}).get("MaximumConcurrency")
                      or props.get("ReservedConcurrentExecutions"))
            check(bool(capped), f"{where}: concurrency capped (protects the database)")
    check(sqs_sources >= 1, "at least one SQS event source")

    # --- HTTP API routes
    routes: dict[tuple[str, str], list[str]] = {}
    for fname, res in functions.items():
        for ename, ev in res.get("Properties", {}).get("Events", {}).items():
            if ev.get("Type") != "HttpApi":
                continue
            ep = ev.get("Properties", {})
            key = (str(ep.get("Method", "ANY")).upper(), ep.get("Path"))
            routes.setdefault(key, []).append(fname)
            check(ref_target(ep.get("ApiId")) in http_apis, f"{fname}.{ename}: attached to the template's HttpApi")
            check(str(ep.get("PayloadFormatVersion", "2.0")) == "2.0", f"{fname}.{ename}: payload format 2.0")
    for (method, path), fname in sorted(EXPECTED_ROUTES.items()):
        got = routes.get((method, path), [])
        check(got == [fname], f"route {method} {path} -> {fname}", f"got {got}")
    extra = sorted(set(routes) - set(EXPECTED_ROUTES))
    check(not extra, "no unexpected routes", repr(extra))

    # --- IAM: no wildcard actions, no wildcard resources
    for rname, res in sorted(resources.items()):
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function":
            stmts = policy_statements(props.get("Policies"))
            check(all(isinstance(p, dict) and "Statement" in p for p in as_list(props.get("Policies") or [])),
                  f"{rname}: inline policy documents only (no managed policies or SAM policy templates)")
        elif res.get("Type") == "AWS::IAM::Role":
            stmts = policy_statements(props.get("Policies"))
        else:
            continue
        actions = [a for s in stmts for a in as_list(s.get("Action", []))]
        bad = [a for a in actions if a == "*" or (isinstance(a, str) and a.endswith(":*"))]
        check(actions and not bad, f"{rname}: no '*' actions ({len(actions)} actions)", repr(bad))
        star_res = [s for s in stmts if "*" in as_list(s.get("Resource", []))]
        check(not star_res, f"{rname}: no Resource '*'", repr(star_res))

    # --- SES send is pinned to the configured sender
    dispatch_stmts = policy_statements(functions.get("DispatchEmailFunction", {})
                                       .get("Properties", {}).get("Policies"))
    ses = [s for s in dispatch_stmts if "ses:SendEmail" in as_list(s.get("Action", []))]
    check(bool(ses) and all("ses:FromAddress" in json.dumps(s.get("Condition", {})) for s in ses),
          "DispatchEmailFunction: ses:SendEmail conditioned on ses:FromAddress")

    # --- access logs never carry the raw path (magic-link tokens)
    for aname, api in sorted(http_apis.items()):
        fmt = api.get("Properties", {}).get("AccessLogSettings", {}).get("Format")
        if not check(isinstance(fmt, str), f"{aname}: access logging configured"):
            continue
        check("$context.path" not in fmt, f"{aname}: access log format has no $context.path")
        try:
            json.loads(fmt)
            ok = True
        except ValueError:
            ok = False
        check(ok, f"{aname}: access log format is valid JSON")

    # --- database reached through a TLS-only proxy
    proxies = by_type("AWS::RDS::DBProxy")
    check(len(proxies) == 1 and all(p["Properties"].get("RequireTLS") is True for p in proxies.values()),
          "one RDS Proxy, TLS required")
    host = globals_fn.get("Environment", {}).get("Variables", {}).get("HERALD_DATABASE_HOST")
    check(getatt(host) is not None and getatt(host)[0] in proxies, "functions connect to the proxy endpoint",
          repr(host))

    # --- cfn-lint itself: any output is a failure
    exe = shutil.which("cfn-lint") or str(Path(sys.executable).with_name("cfn-lint"))
    cmd = [exe, str(TEMPLATE)] if os.path.exists(exe) else [sys.executable, "-m", "cfnlint", str(TEMPLATE)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    out = (proc.stdout + proc.stderr).strip()
    check(proc.returncode == 0 and not out, "cfn-lint reports nothing", f"exit {proc.returncode}\n{out}")

    return finish()


def finish() -> int:
    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
