# lib.sh: what the throw-away test servers (throwaway-dovecot, -cyrus,
# -courier) share: process helpers, the watchdog, the test CA, and the seed
# messages every server's mailboxes hold. Sourced, never run.
#
# A script that sources this defines, before calling the watchdog:
#   instance_running DIR   true while the instance in DIR runs
#   stop_instance DIR      stops it (idempotent)
# and sets PROG (its own name) and SELF (its own path).

die() {
    echo "$PROG: $*" >&2
    exit 1
}

now_ms() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then
        local t=${EPOCHREALTIME/[.,]/}
        echo $((t / 1000))
    else
        date +%s%3N
    fi
}

# Test servers must never be reachable from outside the machine.
require_loopback() {
    [[ $1 == 127.* || $1 == ::1 ]] ||
        die "--listen must be a loopback address (127.0.0.0/8 or ::1), got '$1'"
}

abs_dir() {
    # realpath -m: DIR need not exist yet.
    realpath -m -- "$1"
}

# DIR must be new or empty: a start never mixes with old state.
require_fresh_dir() {
    if [[ -e $1 ]] && { [[ ! -d $1 ]] || [[ -n $(ls -A "$1") ]]; }; then
        die "$1 is not an empty directory; give a fresh one"
    fi
}

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

# True while PID exists and is not a zombie (a dead test process whose parent
# has not reaped it yet must count as gone).
pid_alive() {
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    if [[ -d /proc ]]; then
        IFS= read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
        stat=${stat##*) }
        [[ ${stat%% *} != Z ]]
    else
        kill -0 "$pid" 2>/dev/null
    fi
}

# True when PID runs and its command line contains TEXT: a recycled pid is
# never mistaken for our server.
pid_runs() {
    local pid=$1 text=$2
    pid_alive "$pid" || return 1
    [[ -r /proc/$pid/cmdline ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$text"
}

# Close every descriptor above stderr that the caller may have leaked to us
# (CI wrappers sometimes do). Long-lived daemons holding a caller's pipe
# would keep that caller waiting for EOF. Use only in a subshell that execs.
close_inherited_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
}

# TERM the pids given, wait up to 10 s, then KILL what is left.
terminate_pids() {
    local pids=("$@") i p left
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        left=0
        for p in "${pids[@]}"; do pid_alive "$p" && left=1; done
        ((left)) || return 0
        sleep 0.05
    done
    echo "$PROG: ${pids[*]} ignored SIGTERM for 10 s, killing" >&2
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

# As root, the servers' unprivileged processes must reach DIR: every existing
# ancestor needs the search bit for others.
check_parents_searchable() {
    local p=${1%/*}
    ((EUID == 0)) || return 0
    while [[ -n $p ]]; do
        if [[ -d $p ]] && [[ $(stat -c %A "$p") != *[xt] ]]; then
            die "$p is not searchable by others (mode $(stat -c %a "$p")); the server's" \
                "unprivileged processes could not reach $1. Use another parent or chmod o+x it."
        fi
        p=${p%/*}
    done
}

# ---------------------------------------------------------------------------
# Watchdog: stops the instance once the test process that started it is gone
# ---------------------------------------------------------------------------

# Detached (own session, stdio on DIR/watchdog.log) so the caller's pipes
# close when `start` exits. The script handles `__watchdog DIR PID` by
# calling watchdog_loop.
start_watchdog() {
    local dir=$1 pid=$2 i
    (close_inherited_fds && exec setsid "$SELF" __watchdog "$dir" "$pid") \
        </dev/null >>"$dir/watchdog.log" 2>&1 &
    # Wait for it to record its pid so an immediate `stop` can find it.
    for ((i = 0; i < 100; i++)); do
        [[ -s $dir/watchdog.pid ]] && return 0
        sleep 0.02
    done
    stop_instance "$dir"
    die "watchdog did not start; see $dir/watchdog.log"
}

watchdog_loop() {
    local dir=$1 pid=$2
    echo $$ >"$dir/watchdog.pid"
    echo "$(date -u +%FT%TZ) watching pid $pid"
    while pid_alive "$pid"; do
        # Nothing left to guard once the instance was stopped some other way.
        instance_running "$dir" || { echo "$(date -u +%FT%TZ) server gone"; exit 0; }
        sleep 0.5
    done
    echo "$(date -u +%FT%TZ) pid $pid gone, stopping the server"
    stop_instance "$dir"
}

stop_watchdog() {
    local dir=$1 pid
    pid=$(cat "$dir/watchdog.pid" 2>/dev/null) || return 0
    if [[ $pid != "$$" ]] && pid_runs "$pid" "__watchdog $dir "; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/watchdog.pid"
}

# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------

# make_certs DIR [CA-NAME]: a test CA (DIR/ca.pem) and a server certificate
# it signs (DIR/server.pem, DIR/server.key) for localhost and the loopback
# addresses. P-256 keys: generated in milliseconds, unlike RSA.
make_certs() {
    local dir=$1 ca_name=${2:-imapcheck throwaway test CA}
    (
        cd "$dir"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -nodes -keyout ca.key -out ca.pem -days 365 \
            -subj "/CN=$ca_name" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -nodes -keyout server.key -out server.csr \
            -subj "/CN=localhost" 2>/dev/null
        cat >server.ext <<EOT
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:127.0.0.2,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOT
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
            -set_serial "0x$(openssl rand -hex 8)" -days 365 \
            -extfile server.ext -out server.pem 2>/dev/null
        rm -f server.csr server.ext
        chmod 0644 ca.pem server.pem
    ) || die "certificate generation with openssl failed"
}

# ---------------------------------------------------------------------------
# Seed messages: the same mail on every server (LF line endings; a server
# that stores CRLF converts them)
# ---------------------------------------------------------------------------

# The password every server gives alice: quotes and backslashes, so that
# quoting on the wire is tested on every server.
readonly SEED_ALICE_PASS='s3cret "quoted" \back slash'

rfc2822_date() {
    LC_ALL=C date -u -R -d "$1"
}

simple_message() {
    local from=$1 to=$2 subject=$3 date=$4 id=$5 body=$6
    printf 'From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%s@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n%s\n' \
        "$from" "$to" "$subject" "$(rfc2822_date "$date")" "$id" "$body"
}

# The date (INTERNALDATE) of each seed message, by name.
seed_date() {
    case $1 in
    inbox1) echo '2024-01-15 09:30:00 UTC' ;;
    inbox2) echo '2024-02-20 14:05:00 UTC' ;;
    inbox3) echo '2024-03-10 08:00:00 UTC' ;;
    sent1) echo '2024-01-20 10:00:00 UTC' ;;
    deleted1) echo '2024-01-25 11:00:00 UTC' ;;
    draft1) echo '2024-01-03 12:00:00 UTC' ;; # a one-digit day: Cyrus pads it
    *) die "no seed message $1" ;;
    esac
}

# seed_message NAME: the message on stdout.
#   inbox1   plain text (seeded \Seen)
#   inbox2   RFC 2047 Subject (UTF-8, B) and From (ISO-8859-1, Q), 8-bit
#            body (seeded unseen)
#   inbox3   multipart/mixed with a small attachment (seeded \Flagged)
#   sent1, deleted1, draft1   one message for Sent, Deleted Items, Entwürfe;
#            deleted1's sender has a comma and quotes in its display name
seed_message() {
    local d
    d=$(seed_date "$1")
    case $1 in
    inbox1)
        simple_message 'Admin <admin@example.org>' 'Alice <alice@example.org>' \
            'Hello from the KB' "$d" 'msg1' \
            'Welcome to the knowledge base. This is a plain text message.'
        ;;
    inbox2)
        printf 'From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.org>\n'
        printf 'To: Alice <alice@example.org>\n'
        printf 'Subject: =?UTF-8?B?%s?=\n' "$(printf '%s' 'Grüße aus Köln ✓' | base64 -w0)"
        printf 'Date: %s\nMessage-ID: <msg2@example.org>\n' "$(rfc2822_date "$d")"
        printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n'
        printf 'Content-Transfer-Encoding: 8bit\n\nViele Grüße aus Köln!\n'
        ;;
    inbox3)
        printf 'From: Bob <bob@example.org>\nTo: Alice <alice@example.org>\n'
        printf 'Subject: Report with attachment\nDate: %s\n' "$(rfc2822_date "$d")"
        printf 'Message-ID: <msg3@example.org>\nMIME-Version: 1.0\n'
        printf 'Content-Type: multipart/mixed; boundary="=_boundary_42"\n\n'
        printf 'This is a multi-part message in MIME format.\n\n'
        printf -- '--=_boundary_42\nContent-Type: text/plain; charset=us-ascii\n\n'
        printf 'Please find the report attached.\n\n'
        printf -- '--=_boundary_42\nContent-Type: application/octet-stream; name="report.bin"\n'
        printf 'Content-Disposition: attachment; filename="report.bin"\n'
        printf 'Content-Transfer-Encoding: base64\n\n'
        printf 'imapcheck test attachment\x00\x01\x02\xff' | base64
        printf -- '--=_boundary_42--\n'
        ;;
    sent1)
        simple_message 'Alice <alice@example.org>' 'Bob <bob@example.org>' \
            'Sent by Alice' "$d" 'sent1' 'Hi Bob.'
        ;;
    deleted1)
        simple_message '"Spam, \"Inc.\"" <spam@example.org>' 'Alice <alice@example.org>' \
            'Deleted one' "$d" 'del1' 'Gone.'
        ;;
    draft1)
        simple_message 'Alice <alice@example.org>' 'Bob <bob@example.org>' \
            'Draft' "$d" 'draft1' 'Unfinished.'
        ;;
    *) die "no seed message $1" ;;
    esac
}
