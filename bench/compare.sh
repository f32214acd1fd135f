#!/usr/bin/env bash
# compare.sh: smp's engine against wrk, h2load, fortio and ghz, side by side.
#
# Targets: nginx (Debian nginx-light, one worker, pinned to CPU 0) serving a
# 2-byte response over HTTP/1.1 and h2c, and `fortio server`'s gRPC port
# (pinned to CPU 0) for grpc.health.v1 Check and its TCP echo port for 1KiB
# TCP echoes. Every generator is pinned to CPU 1 and run REPS times; medians
# and ratios are printed at the end.
#
# Usage: bench/compare.sh [-r REPS] [-d SECONDS] [-o OUTDIR] [-b BASELINE] [-N] [only...]
#   only: any of http1 h2c grpc tcp open fidelity (default: all)
#   -b: an engineload binary built from another tree (e.g. before a change);
#       it runs as "base" beside "ours" in every case, so before/after
#       figures come from the same run.
#   -N: on a shared machine, give the benchmark the CPUs first (root): it runs
#       in a session of its own whose autogroup gets nice -20 (with autogroup
#       scheduling, nice alone only ranks processes within their session), and
#       servers and generators at nice -20 within it. Other work still runs
#       beside it, so the load average is still logged.
# Needs root for apt-get when the anchors are missing. Every process it
# starts is stopped on exit.
set -euo pipefail

ARGS=("$@")
REPS=3
DUR=10
OUT=""
BASE=""
PRIO=()
while getopts "r:d:o:b:N" opt; do
	case $opt in
	r) REPS=$OPTARG ;;
	d) DUR=$OPTARG ;;
	o) OUT=$OPTARG ;;
	b) BASE=$(realpath "$OPTARG") ;;
	N) PRIO=(nice -n -20) ;;
	*) echo "usage: $0 [-r reps] [-d seconds] [-o outdir] [-b baseline-engineload] [-N] [http1 h2c grpc tcp open fidelity]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ ${#PRIO[@]} -gt 0 ]; then
	if [ -z "${SMP_BENCH_SESSION:-}" ]; then
		SMP_BENCH_SESSION=1 exec setsid -w "$0" "${ARGS[@]}"
	fi
	echo -20 >/proc/self/autogroup 2>/dev/null || echo "# -N: could not raise the autogroup's weight" >&2
fi
ONLY="${*:-http1 h2c grpc tcp open fidelity}"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${XDG_CACHE_HOME:-$HOME/.cache}/smp/bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smp-bench.XXXXXX")
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT" "$BIN"
PIDS=()

cleanup() {
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null || true
	done
	if [ "$OUT" = "$WORK/out" ]; then
		rm -rf "$WORK/nginx" "$WORK/engineload"
		echo "raw output kept in $OUT" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

log() { echo "# $*" >&2; }

# ---- anchors -------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v h2load >/dev/null || need_apt+=(nghttp2-client)
if [ ${#need_apt[@]} -gt 0 ]; then
	log "installing ${need_apt[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
# fortio 1.66.5 is the last release whose command builds from the module
# proxy here; ghz@latest resolves to v0.93.0 through the proxy, which builds.
[ -x "$BIN/fortio" ] || (cd "$WORK" && GOBIN=$BIN GOFLAGS= go install fortio.org/fortio@v1.66.5)
[ -x "$BIN/ghz" ] || (cd "$WORK" && GOBIN=$BIN GOFLAGS= go install github.com/bojand/ghz/cmd/ghz@v0.93.0)
(cd "$ROOT" && go build -o "$WORK/engineload" ./bench/cmd/engineload)
OURS=$WORK/engineload

# ---- targets -------------------------------------------------------------
H1PORT=18080
H2PORT=18081
GRPCPORT=18079
FHTTPPORT=18078
TCPPORT=18077
TCPSIZE=1024
TCPRATE=5000
# A port that answers before the targets start belongs to something else, which the
# cases would then measure instead of nginx or fortio: refuse rather than go on.
for port in $H1PORT $H2PORT $GRPCPORT $FHTTPPORT $TCPPORT; do
	if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
		echo "compare.sh: 127.0.0.1:$port is already in use (by: $(ss -Htlnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' || echo unknown)); free it and run again" >&2
		exit 1
	fi
done
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx/tmp;
	proxy_temp_path $WORK/nginx/tmp;
	fastcgi_temp_path $WORK/nginx/tmp;
	uwsgi_temp_path $WORK/nginx/tmp;
	scgi_temp_path $WORK/nginx/tmp;
	keepalive_requests 100000000;
	http2_max_requests 100000000;
	server {
		listen 127.0.0.1:$H1PORT;
		listen 127.0.0.1:$H2PORT http2;
		location / { default_type text/plain; return 200 "ok"; }
	}
}
EOF
taskset -c 0 "${PRIO[@]}" "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
NGINX_PID=$!
taskset -c 0 "${PRIO[@]}" "$BIN/fortio" server -http-port "127.0.0.1:$FHTTPPORT" -grpc-port "$GRPCPORT" -redirect-port disabled -tcp-port "127.0.0.1:$TCPPORT" -udp-port disabled -loglevel error >/dev/null 2>&1 &
PIDS+=($!)
FORTIO_SRV_PID=$!
for port in $H1PORT $H2PORT $GRPCPORT $TCPPORT; do
	for _ in $(seq 50); do
		(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
		sleep 0.1
	done
done
for pid in $NGINX_PID $FORTIO_SRV_PID; do
	kill -0 "$pid" 2>/dev/null || { echo "compare.sh: a target server (pid $pid) exited at start; see $WORK/nginx/error.log" >&2; exit 1; }
done
H1URL=http://127.0.0.1:$H1PORT/
H2URL=http://127.0.0.1:$H2PORT/

# cpu_ticks PID: user+system clock ticks of a process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# measure NAME CMD...: runs CMD pinned to CPU 1, keeps its output, and
# appends "name rep cpu_server_pct" to the server-CPU log.
measure() {
	local name=$1 rep=$2 server=$3
	shift 3
	local before after t0 t1
	# The machine is shared: the 1-minute load average beside every run says how noisy.
	echo "$name $rep $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/loadavg"
	before=$(cpu_ticks "$server")
	t0=$(date +%s%N)
	taskset -c 1 "${PRIO[@]}" "$@" >"$OUT/$name.$rep.out" 2>&1 || echo "FAILED: $*" >>"$OUT/$name.$rep.out"
	t1=$(date +%s%N)
	after=$(cpu_ticks "$server")
	# Over the generator's whole run (ours includes its 1s warm-up).
	echo "$name $rep $(((after - before) * 100 * 1000000000 / HZ / (t1 - t0)))" >>"$OUT/server_cpu"
}

# ---- parsers: each prints "rps cpu_us_per_req p50_ms" (cpu may be -) ------
time_cpu() { # /usr/bin/time -f output "cpu=U+S" and requests
	local f=$1 n=$2
	awk -v n="$n" '/^cpu=/{split(substr($0,5),a,"+"); printf "%.2f", (a[1]+a[2])*1e6/n; found=1} END{if(!found) printf "-"}' "$f"
}
parse_ours() {
	awk '/rps=/{for(i=1;i<=NF;i++){split($i,kv,"="); v[kv[1]]=kv[2]}; printf "%s %s %.4f %s %s %s %s %s %s %s\n", v["rps"], v["cpu_us_per_req"], v["p50_us"]/1000, v["lag_p99_us"], v["requested"], v["overflow"], v["ready_p99_us"], v["gen_busy"], v["run_delay_ms_per_s"], v["late"]}' "$1"
}
parse_wrk() {
	local rps n
	rps=$(awk '/^Requests\/sec/{print $2}' "$1")
	n=$(awk '/requests in/{print $1}' "$1")
	echo "$rps $(time_cpu "$1" "${n:-1}") -"
}
parse_h2load() {
	local rps n
	rps=$(awk '/^finished in/{gsub(",","",$4); print $4}' "$1")
	n=$(awk '/^requests:/{print $4}' "$1")
	echo "$rps $(time_cpu "$1" "${n:-1}") -"
}
parse_fortio() {
	local rps n p50
	rps=$(awk '/^All done/{for(i=1;i<=NF;i++) if($i=="qps") print $(i-1)}' "$1" | tail -1)
	n=$(awk '/^All done/{print $3}' "$1" | tail -1)
	p50=$(awk '/# target 50%/{printf "%.4f\n", $4*1000}' "$1" | tail -1)
	echo "${rps:-0} $(time_cpu "$1" "${n:-1}") ${p50:--}"
}
parse_ghz() {
	local rps n
	rps=$(awk '/Requests\/sec:/{print $2}' "$1")
	n=$(awk '/Count:/{print $2}' "$1" | head -1)
	echo "${rps:-0} $(time_cpu "$1" "${n:-1}") -"
}

# fortio's histogram starts with one bucket of -r seconds (1 ms by default) and
# interpolates inside it: a loopback echo of 30-50 µs then reads as a p50 of about
# 0.5 ms (its own "# target 50%" line too). The cases whose fortio p50 is compared
# (tcpopen, fidelity) ask for 10 µs buckets.
FORTIO_RES=0.00001
TIME=(/usr/bin/time -f "cpu=%U+%S")
[ -x /usr/bin/time ] || TIME=()

engine_bin() { if [ "$1" = base ]; then echo "$BASE"; else echo "$OURS"; fi; }
ENGINES="ours"
if [ -n "$BASE" ]; then ENGINES="ours base"; fi

run_case() { # case tool rep
	local c=$1 tool=$2 rep=$3 name="$1-$2"
	case "$c/$tool" in
	http1/ours | http1/base) measure "$name" "$rep" "$NGINX_PID" "$(engine_bin "$tool")" -proto http1 -c 16 -d "${DUR}s" "$H1URL" ;;
	http1/wrk) measure "$name" "$rep" "$NGINX_PID" "${TIME[@]}" wrk -t1 -c16 -d"${DUR}s" "$H1URL" ;;
	http1/fortio) measure "$name" "$rep" "$NGINX_PID" "${TIME[@]}" "$BIN/fortio" load -qps 0 -c 16 -t "${DUR}s" -loglevel error "$H1URL" ;;
	h2c/ours | h2c/base) measure "$name" "$rep" "$NGINX_PID" "$(engine_bin "$tool")" -proto h2c -c 16 -s 10 -d "${DUR}s" "$H2URL" ;;
	h2c/h2load) measure "$name" "$rep" "$NGINX_PID" "${TIME[@]}" h2load -c16 -m10 -t1 -D "$DUR" "$H2URL" ;;
	h2c/fortio) measure "$name" "$rep" "$NGINX_PID" "${TIME[@]}" "$BIN/fortio" load -h2 -qps 0 -c 160 -t "${DUR}s" -loglevel error "$H2URL" ;;
	grpc/ours | grpc/base) measure "$name" "$rep" "$FORTIO_SRV_PID" "$(engine_bin "$tool")" -proto grpc -c 16 -d "${DUR}s" "127.0.0.1:$GRPCPORT" ;;
	grpc/fortio) measure "$name" "$rep" "$FORTIO_SRV_PID" "${TIME[@]}" "$BIN/fortio" load -grpc -qps 0 -c 16 -t "${DUR}s" -loglevel error "127.0.0.1:$GRPCPORT" ;;
	tcp/ours | tcp/base) measure "$name" "$rep" "$FORTIO_SRV_PID" "$(engine_bin "$tool")" -proto tcp -size "$TCPSIZE" -c 16 -d "${DUR}s" "tcp://127.0.0.1:$TCPPORT" ;;
	tcp/fortio) measure "$name" "$rep" "$FORTIO_SRV_PID" "${TIME[@]}" "$BIN/fortio" load -qps 0 -c 16 -payload-size "$TCPSIZE" -t "${DUR}s" -loglevel error "tcp://127.0.0.1:$TCPPORT" ;;
	tcpopen/ours | tcpopen/base) measure "$name" "$rep" "$FORTIO_SRV_PID" "$(engine_bin "$tool")" -proto tcp -size "$TCPSIZE" -c 16 -rate "$TCPRATE" -d "${DUR}s" "tcp://127.0.0.1:$TCPPORT" ;;
	tcpopen/fortio) measure "$name" "$rep" "$FORTIO_SRV_PID" "${TIME[@]}" "$BIN/fortio" load -qps "$TCPRATE" -uniform -c 16 -payload-size "$TCPSIZE" -r "$FORTIO_RES" -t "${DUR}s" -loglevel error "tcp://127.0.0.1:$TCPPORT" ;;
	grpc/ghz) measure "$name" "$rep" "$FORTIO_SRV_PID" "${TIME[@]}" "$BIN/ghz" --insecure --call grpc.health.v1.Health/Check -c 16 --connections 16 -z "${DUR}s" "127.0.0.1:$GRPCPORT" ;;
	esac
}

median() { sort -g | awk '{a[NR]=$1} END{if(NR==0){print "-"; exit} if(NR%2){print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

declare -A RPS CPU P50
summarise() { # case tool parser
	local name="$1-$2" parser=$3 f
	: >"$OUT/$name.parsed"
	for f in "$OUT/$name".*.out; do
		$parser "$f" >>"$OUT/$name.parsed"
	done
	RPS[$name]=$(awk '{print $1}' "$OUT/$name.parsed" | median)
	CPU[$name]=$(awk '$2!="-"{print $2}' "$OUT/$name.parsed" | median)
	P50[$name]=$(awk '$3!="-"{print $3}' "$OUT/$name.parsed" | median)
	local scpu
	scpu=$(awk -v n="$name" '$1==n{print $3}' "$OUT/server_cpu" | median)
	printf "%-14s rps %10s  cpu/req %6s µs  server cpu %4s%%\n" "$name" "${RPS[$name]}" "${CPU[$name]}" "$scpu"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if(b+0==0){print "-"}else{printf "%.2f", a/b}}'; }

# paired CASE A PARSER_A B PARSER_B: the ratios A/B repetition by repetition
# (each pair ran a few seconds apart, so machine drift cancels better than
# in the ratio of two medians that may come from different repetitions), and
# the server's CPU per request under each (its busy share over the
# generator's run, ours' warm-up included, divided by the throughput).
paired() {
	local c=$1 a=$2 pa=$3 b=$4 pb=$5 rep fa fb ra rb sa sb rr cr sra srb
	rr="" cr="" sra="" srb=""
	for rep in $(seq "$REPS"); do
		fa="$OUT/$c-$a.$rep.out" fb="$OUT/$c-$b.$rep.out"
		[ -f "$fa" ] && [ -f "$fb" ] || continue
		read -r ra ca _ < <($pa "$fa")
		read -r rb cb _ < <($pb "$fb")
		sa=$(awk -v n="$c-$a" -v r="$rep" '$1==n && $2==r{print $3}' "$OUT/server_cpu")
		sb=$(awk -v n="$c-$b" -v r="$rep" '$1==n && $2==r{print $3}' "$OUT/server_cpu")
		rr="$rr $(ratio "$ra" "$rb")"
		cr="$cr $(ratio "$ca" "$cb")"
		sra="$sra $(awk -v s="$sa" -v r="$ra" 'BEGIN{if(r+0>0) printf "%.2f", s*1e4/r}')"
		srb="$srb $(awk -v s="$sb" -v r="$rb" 'BEGIN{if(r+0>0) printf "%.2f", s*1e4/r}')"
	done
	med() { tr ' ' '\n' | grep -v -e '^$' -e '^-$' | median; }
	echo "$c: paired by repetition, $a/$b rps [$rr ] median $(echo "$rr" | med), cpu/req [$cr ] median $(echo "$cr" | med)"
	echo "$c: server CPU per request (µs), under $a [$sra ] median $(echo "$sra" | med), under $b [$srb ] median $(echo "$srb" | med)"
}

# Interleave tools within each repetition so machine drift hits all alike.
for rep in $(seq "$REPS"); do
	for c in http1 h2c grpc tcp tcpopen; do
		case " $ONLY " in *" ${c%open} "*) ;; *) continue ;; esac
		case $c in
		http1) tools="$ENGINES wrk fortio" ;;
		h2c) tools="$ENGINES h2load fortio" ;;
		grpc) tools="$ENGINES fortio ghz" ;;
		tcp | tcpopen) tools="$ENGINES fortio" ;;
		esac
		for tool in $tools; do
			log "rep $rep: $c $tool"
			run_case "$c" "$tool" "$rep"
		done
	done
done

echo
echo "== closed loop, medians of $REPS × ${DUR}s (generator on CPU 1, server on CPU 0)"
if [[ " $ONLY " == *" http1 "* ]]; then
	summarise http1 ours parse_ours
	if [ -n "$BASE" ]; then summarise http1 base parse_ours; fi
	summarise http1 wrk parse_wrk
	summarise http1 fortio parse_fortio
	echo "http1: ours/wrk $(ratio "${RPS[http1-ours]}" "${RPS[http1-wrk]}") (goal ≥ 1.00), ours/fortio $(ratio "${RPS[http1-ours]}" "${RPS[http1-fortio]}") (goal ≥ 1.10), cpu/req ours/wrk $(ratio "${CPU[http1-ours]}" "${CPU[http1-wrk]}") (goal ≤ 1.00)"
	if [ -n "$BASE" ]; then echo "http1: ours/base rps $(ratio "${RPS[http1-ours]}" "${RPS[http1-base]}"), cpu/req ours/base $(ratio "${CPU[http1-ours]}" "${CPU[http1-base]}")"; fi
fi
if [[ " $ONLY " == *" h2c "* ]]; then
	summarise h2c ours parse_ours
	if [ -n "$BASE" ]; then summarise h2c base parse_ours; fi
	summarise h2c h2load parse_h2load
	summarise h2c fortio parse_fortio
	echo "h2c: ours/h2load $(ratio "${RPS[h2c-ours]}" "${RPS[h2c-h2load]}") (goal ≥ 1.00), ours/fortio $(ratio "${RPS[h2c-ours]}" "${RPS[h2c-fortio]}") (goal ≥ 2.00), cpu/req ours/h2load $(ratio "${CPU[h2c-ours]}" "${CPU[h2c-h2load]}") (goal ≤ 1.00)"
	paired h2c ours parse_ours h2load parse_h2load
	if [ -n "$BASE" ]; then echo "h2c: ours/base rps $(ratio "${RPS[h2c-ours]}" "${RPS[h2c-base]}"), cpu/req ours/base $(ratio "${CPU[h2c-ours]}" "${CPU[h2c-base]}")"; fi
fi
if [[ " $ONLY " == *" grpc "* ]]; then
	summarise grpc ours parse_ours
	if [ -n "$BASE" ]; then summarise grpc base parse_ours; fi
	summarise grpc fortio parse_fortio
	summarise grpc ghz parse_ghz
	echo "grpc: ours/fortio $(ratio "${RPS[grpc-ours]}" "${RPS[grpc-fortio]}") (goal ≥ 1.20), ours/ghz $(ratio "${RPS[grpc-ours]}" "${RPS[grpc-ghz]}") (goal ≥ 2.50), cpu/req ours/fortio $(ratio "${CPU[grpc-ours]}" "${CPU[grpc-fortio]}")"
	if [ -n "$BASE" ]; then echo "grpc: ours/base rps $(ratio "${RPS[grpc-ours]}" "${RPS[grpc-base]}"), cpu/req ours/base $(ratio "${CPU[grpc-ours]}" "${CPU[grpc-base]}")"; fi
fi

if [[ " $ONLY " == *" tcp "* ]]; then
	summarise tcp ours parse_ours
	if [ -n "$BASE" ]; then summarise tcp base parse_ours; fi
	summarise tcp fortio parse_fortio
	echo "tcp: ours/fortio rps $(ratio "${RPS[tcp-ours]}" "${RPS[tcp-fortio]}") (goal ≥ 1.00), cpu/req ours/fortio $(ratio "${CPU[tcp-ours]}" "${CPU[tcp-fortio]}") (goal ≤ 1.00)"
	if [ -n "$BASE" ]; then echo "tcp: ours/base rps $(ratio "${RPS[tcp-ours]}" "${RPS[tcp-base]}"), cpu/req ours/base $(ratio "${CPU[tcp-ours]}" "${CPU[tcp-base]}")"; fi
	echo
	echo "== tcp open loop at $TCPRATE/s, 16 connections, ${TCPSIZE}-byte echoes (ours from the intended send time, fortio from the actual send)"
	summarise tcpopen ours parse_ours
	if [ -n "$BASE" ]; then summarise tcpopen base parse_ours; fi
	summarise tcpopen fortio parse_fortio
	echo "tcp open: p50 ours ${P50[tcpopen-ours]} ms, fortio ${P50[tcpopen-fortio]} ms (ours/fortio $(ratio "${P50[tcpopen-ours]}" "${P50[tcpopen-fortio]}")), cpu/req ours/fortio $(ratio "${CPU[tcpopen-ours]}" "${CPU[tcpopen-fortio]}")"
fi

if [[ " $ONLY " == *" open "* ]]; then
	max=${RPS[http1-ours]:-}
	if [ -z "$max" ] || [ "$max" = "-" ]; then
		log "open loop: measuring the closed-loop maximum first"
		measure open-max 1 "$NGINX_PID" "$OURS" -proto http1 -c 16 -d "${DUR}s" "$H1URL"
		max=$(parse_ours "$OUT/open-max.1.out" | awk '{print $1}')
	fi
	half=$(awk -v m="$max" 'BEGIN{printf "%d", m/2}')
	echo
	echo "== open loop at half the closed-loop maximum: $half/s, 16 connections"
	for rep in $(seq "$REPS"); do
		for e in $ENGINES; do
			log "rep $rep: open loop $half/s ($e)"
			measure "open-$e" "$rep" "$NGINX_PID" "$(engine_bin "$e")" -proto http1 -c 16 -rate "$half" -d "${DUR}s" "$H1URL"
		done
	done
	for e in $ENGINES; do
		for f in "$OUT/open-$e".*.out; do parse_ours "$f"; done >"$OUT/open-$e.parsed"
		err=$(awk '{e=($1-$5)/$5*100; if(e<0)e=-e; print e}' "$OUT/open-$e.parsed" | median)
		lag=$(awk '{print $4}' "$OUT/open-$e.parsed" | median)
		ready=$(awk '{print $7}' "$OUT/open-$e.parsed" | median)
		p50=$(awk '{print $3}' "$OUT/open-$e.parsed" | median)
		echo "$e: achieved-rate error ${err}% (goal ≤ 0.5%), start-lag p99 ${lag} µs (goal ≤ 200 µs) [runs: $(awk '{printf "%s ", $4}' "$OUT/open-$e.parsed")], ready-lag p99 ${ready} µs, latency p50 ${p50} ms"
		echo "$e: per run: ready-lag p99 µs, generator busy, run delay ms/s, late cause: $(awk '{printf "[%s %s %s %s] ", $7, $8, $9, $10}' "$OUT/open-$e.parsed")"
	done
fi

if [[ " $ONLY " == *" fidelity "* ]]; then
	echo
	echo "== fidelity: 1000/s against nginx, p50 latency"
	for rep in $(seq "$REPS"); do
		log "rep $rep: fidelity"
		for e in $ENGINES; do
			# Default flags: the engine's automatic spin (75µs at 1000/s,
			# at most 15% of one core) keeps its own wake-ups from idle out
			# of the figure.
			measure "fid-$e" "$rep" "$NGINX_PID" "$(engine_bin "$e")" -proto http1 -c 16 -rate 1000 -d "${DUR}s" "$H1URL"
		done
		measure fid-fortio "$rep" "$NGINX_PID" "$BIN/fortio" load -qps 1000 -c 16 -r "$FORTIO_RES" -t "${DUR}s" -loglevel error "$H1URL"
	done
	summarise fid ours parse_ours
	if [ -n "$BASE" ]; then summarise fid base parse_ours; fi
	summarise fid fortio parse_fortio
	echo "p50 ours ${P50[fid-ours]} ms (goal ≤ 0.12 ms), fortio ${P50[fid-fortio]} ms${BASE:+, base ${P50[fid-base]:-} ms}"
fi

echo
awk '{print $3}' "$OUT/loadavg" | sort -g | awk '{a[NR]=$1} END{printf "load average (1 min) at the start of each run: min %s, median %s, max %s over %d runs (2 CPUs)\n", a[1], a[int((NR+1)/2)], a[NR], NR}'
