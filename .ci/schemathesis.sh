#!/usr/bin/env bash
# Contract run: Schemathesis fuzzes the served OpenAPI document (every check, every phase:
# examples, coverage, fuzzing, stateful) once per role — no token, resident, front desk,
# admin — each against a fresh `courtyard demo` in a temp directory on a free port. Fails
# when any run reports a failure (a 5xx, a response off the document, an undocumented status
# or content type, a valid request refused, an invalid one accepted...) or does not finish.
#
#   bash .ci/schemathesis.sh [path/to/courtyard]      # default target/debug/courtyard
#
# Before each run the demo's ids (community, buildings, units, households, residents, staff,
# services, teams, fee items, bills, a repair ticket) are read from the API and offered to
# Schemathesis for path parameters (and body household_id / service_id) most of the time, so
# requests reach the handlers instead of stopping at 404. The one allowance: the demo has no
# WeChat app, so POST /v1/auth/wechat-login answers its documented 503.
#
# Knobs (environment): ST_MAX_EXAMPLES (default 10), ST_ROLE_TIMEOUT seconds per role
# (default 300), ST_ROLES (default "none resident frontdesk admin"), ST_WORKERS (default 2),
# ST_SEED (default random; each run prints its seed), ST_REPORT_DIR (default a temp dir:
# each role's output, JUnit XML and NDJSON), ST_ALLOW_RULE_422=1 (a schema-valid request
# refused with 422 passes: the document's 422 covers rules "the operation checks" beyond the
# schema; a 400 for one still fails). Not part of .ci/test.
set -euo pipefail

ST_VERSION=4.32.5
BIN=${1:-target/debug/courtyard}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-10}
ROLE_TIMEOUT=${ST_ROLE_TIMEOUT:-300}
ROLES=${ST_ROLES:-none resident frontdesk admin}
WORKERS=${ST_WORKERS:-2}
TMP=${TMPDIR:-/tmp}

for role in $ROLES; do
  case $role in none | resident | frontdesk | admin) ;; *) echo "unknown role $role" >&2; exit 2 ;; esac
done
[ -x "$BIN" ] || { echo "no server binary at $BIN (build it, or pass its path)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
REPORT_DIR=${ST_REPORT_DIR:-$(mktemp -d "$TMP/courtyard-st-report.XXXXXX")}
mkdir -p "$REPORT_DIR"
REPORT_DIR=$(cd "$REPORT_DIR" && pwd)

# Schemathesis, pinned, in a venv of its own (reused while it has the pinned version).
VENV=$TMP/courtyard-schemathesis-$ST_VERSION
ST=$VENV/bin/schemathesis
if ! "$ST" --version 2>/dev/null | grep -qx "schemathesis, version $ST_VERSION"; then
  echo "installing schemathesis $ST_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

server_pid=""
server_dir=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  if [ -n "$server_dir" ]; then rm -rf "$server_dir"; server_dir=""; fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Starts a fresh demo (new SQLite file, new JWT secret) on a free port; sets BASE and LOG.
start_server() {
  server_dir=$(mktemp -d "$TMP/courtyard-st-server.XXXXXX")
  LOG=$server_dir/server.log
  (
    cd "$server_dir"
    export COURTYARD_SERVER__HOST=127.0.0.1 COURTYARD_SERVER__PORT=0
    export COURTYARD_AUTH__ACCESS_TOKEN_TTL_SECS=86400
    export COURTYARD_SERVER__PUBLIC_RATE_LIMIT_PER_MINUTE=1000000
    export COURTYARD_AUTH__CODES_PER_PHONE_MINUTE=100000 COURTYARD_AUTH__CODES_PER_PHONE_HOUR=100000
    export COURTYARD_AUTH__CODES_PER_PHONE_DAY=100000 COURTYARD_AUTH__CODES_PER_IP_HOUR=100000
    exec "$BIN" demo
  ) >"$LOG" 2>&1 &
  server_pid=$!
  BASE=""
  for _ in $(seq 1 300); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$LOG" >&2; echo "server exited at start-up" >&2; return 1; }
    if [ -z "$BASE" ]; then
      BASE=$(sed -nE 's#^ *OpenAPI: +(http://[^ ]+)/openapi\.json.*#\1#p' "$LOG" | head -n1)
    fi
    if [ -n "$BASE" ] && curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  cat "$LOG" >&2
  echo "server not ready after 60 s" >&2
  return 1
}

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

staff_token() {
  curl -fsS -X POST "$BASE/v1/auth/staff-login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" | json_field access_token
}

resident_token() {
  local phone=13800000001 masked='138\*\*\*\*0001' code=""
  curl -fsS -o /dev/null -X POST "$BASE/v1/auth/sms-codes" -H 'content-type: application/json' \
    -d "{\"phone\":\"$phone\"}"
  for _ in $(seq 1 50); do
    code=$(sed -nE "s/.*LOGIN CODE for $masked: ([0-9]+).*/\1/p" "$LOG" | tail -n1)
    [ -n "$code" ] && break
    sleep 0.1
  done
  [ -n "$code" ] || { echo "no login code in the server log" >&2; return 1; }
  curl -fsS -X POST "$BASE/v1/auth/sms-login" -H 'content-type: application/json' \
    -d "{\"phone\":\"$phone\",\"code\":\"$code\"}" | json_field access_token
}

token_for() {
  case $1 in
    none) echo "" ;;
    resident) echo "$RES_TOKEN" ;;
    frontdesk) staff_token frontdesk courtyard-demo ;;
    admin) echo "$ADMIN_TOKEN" ;;
  esac
}

# Writes the Schemathesis config for this server: the demo's ids as dictionaries for path
# parameters, the WeChat allowance, and (ST_ALLOW_RULE_422=1) 422 as an answer to valid data.
write_config() {
  python3 - "$BASE" "$RES_TOKEN" "$ADMIN_TOKEN" "$1" "${ST_ALLOW_RULE_422:-0}" <<'PY'
import json, sys, urllib.request
base, resident, admin, out, allow_422 = sys.argv[1:6]

def call(method, path, token, body=None, headers=None):
    h = {"Authorization": "Bearer " + token, **(headers or {})}
    data = None
    if body is not None:
        h["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")

ids = {}
def add(name, value):
    ids.setdefault(name, [])
    if value not in ids[name]:
        ids[name].append(value)
def items(path, token=admin):
    return call("GET", path, token)["items"]

me = call("GET", "/v1/me", resident)
home = me["households"][0]
c, h = home["community_id"], home["household_id"]
add("community_id", c); add("household_id", h); add("resident_id", me["id"])
admin_id = call("GET", "/v1/me", admin)["id"]
for b in items(f"/v1/communities/{c}/buildings")[:2]:
    add("building_id", b["id"])
    for u in items(f"/v1/buildings/{b['id']}/units")[:2]:
        add("unit_id", u["id"])
for x in items(f"/v1/communities/{c}/households")[:3]: add("household_id", x["id"])
for x in items(f"/v1/communities/{c}/residents")[:3]: add("resident_id", x["id"])
for x in items("/v1/staff"):
    if x["id"] != admin_id: add("staff_id", x["id"])
for x in items(f"/v1/communities/{c}/services"): add("service_id", x["id"])
for x in items(f"/v1/communities/{c}/service-teams"): add("team_id", x["id"])
for x in items(f"/v1/communities/{c}/fee-items"): add("fee_item_id", x["id"])
for x in items(f"/v1/communities/{c}/bill-runs"): add("bill_run_id", x["id"])
for x in items(f"/v1/households/{h}/bills"): add("bill_id", x["id"])
ticket = call("POST", "/v1/repairs", resident,
              {"household_id": h, "category": "water", "urgency": "ordinary",
               "description": "厨房水龙头滴水"}, {"Idempotency-Key": "schemathesis-seed"})
add("ticket_id", ticket["id"])

lines = ["[parameters]"]
lines += [f'{k} = {{ dictionary = "{k}", probability = 0.8 }}' for k in ids]
lines += [f'"body.{k}" = {{ dictionary = "{k}", probability = 0.8 }}' for k in ("household_id", "service_id")]
for k, v in ids.items():
    lines += [f"[dictionaries.{k}]", "values = " + json.dumps(v)]
if allow_422 == "1":
    lines += ["[checks.positive_data_acceptance]",
              'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]']
lines += ["[[operations]]", 'include-path = "/v1/auth/wechat-login"',
          'checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]']
open(out, "w").write("\n".join(lines) + "\n")
PY
}

started=$(date +%s)
failed=()
summary=()
for role in $ROLES; do
  role_started=$(date +%s)
  printf '\n== schemathesis: %s\n' "$role"
  start_server
  RES_TOKEN=$(resident_token)
  ADMIN_TOKEN=$(staff_token admin courtyard-admin)
  write_config "$server_dir/schemathesis.toml"
  token=$(token_for "$role")
  auth=()
  if [ -n "$token" ]; then
    # A token that does not work would turn the run into 151 operations of 401.
    curl -fsS -o /dev/null "$BASE/v1/me" -H "authorization: Bearer $token"
    auth=(--header "Authorization: Bearer $token")
  fi
  seed=()
  [ -z "${ST_SEED:-}" ] || seed=(--seed "$ST_SEED")
  status=0
  (cd "$REPORT_DIR" && timeout --kill-after=10 "$ROLE_TIMEOUT" "$ST" \
    --config-file "$server_dir/schemathesis.toml" run "$BASE/openapi.json" \
    --checks all --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" --request-timeout 10 --workers "$WORKERS" \
    --generation-database none --no-color --output-sanitize false "${seed[@]}" \
    --report junit,ndjson --report-dir "$REPORT_DIR/$role" \
    "${auth[@]}") >"$REPORT_DIR/$role.txt" 2>&1 || status=$?
  cp "$server_dir/schemathesis.toml" "$REPORT_DIR/$role.toml"
  stop_server
  took=$(($(date +%s) - role_started))
  case $status in
    0) verdict=passed ;;
    124 | 137) verdict="did not finish within $ROLE_TIMEOUT s"; failed+=("$role") ;;
    *) verdict="failed (exit $status)"; failed+=("$role") ;;
  esac
  # Each failing operation with its failed checks, then the closing summary (phases,
  # failures by kind, test-case counts, seed); the full output, with a curl line for every
  # failure, is in the report directory.
  sed -n '/^=* FAILURES =*$/,/^=* \(WARNINGS\|SUMMARY\) =*$/p' "$REPORT_DIR/$role.txt" |
    grep -E '^_{3,} .* _{3,}$|^- ST[0-9]+ ' | uniq || true
  sed -n '/^=* SUMMARY =*$/,$p' "$REPORT_DIR/$role.txt"
  printf '%s: %s in %d s; output %s\n' "$role" "$verdict" "$took" "$REPORT_DIR/$role.txt"
  summary+=("$(printf '%6d s  %-10s %s' "$took" "$role" "$verdict")")
done

printf '\n== schemathesis summary (max %s examples per operation)\n' "$MAX_EXAMPLES"
printf '%s\n' "${summary[@]}"
printf '%6d s  total; reports in %s\n' "$(($(date +%s) - started))" "$REPORT_DIR"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "schemathesis found contract failures for: ${failed[*]}" >&2
  exit 1
fi
