#!/usr/bin/env bash
# A local Flink 1.19 session cluster (JobManager + one TaskManager) and Beam's Flink job server,
# all under .cache/flink and all bound to loopback.  Usage: flink/flink.sh install|up|down|status
#
# Why these pieces:
# - Flink comes from PyPI (apache-flink-libraries carries lib/ and opt/, apache-flink carries bin/
#   and conf/): no Flink download site is reachable here.  It lives in its own venv because
#   apache-flink pins an old apache-beam that would break the project's locked .venv; it is
#   installed --no-deps since only its scripts and jars are used, never its Python.
# - 1.19 is the newest Flink that Beam 2.61's FlinkRunner supports (PUBLISHED_FLINK_VERSIONS).
# - The job server jar is built from Maven Central by flink/jobserver-pom.xml (see there why).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
C=$ROOT/.cache/flink
UV=${UV:-$ROOT/.uv/bin/uv}
PYTHON=${PYTHON:-python3.11}
FLINK_VERSION=1.19.3
BEAM_JOBSERVER_VERSION=2.62.0
JAR=$C/jobserver/beam-runners-flink-1.19-job-server-$BEAM_JOBSERVER_VERSION-local.jar
REST=http://127.0.0.1:8081
JOB_PORT=8099

export FLINK_HOME=$C/venv/lib/python3.11/site-packages/pyflink
export FLINK_CONF_DIR=$C/conf FLINK_LOG_DIR=$C/log FLINK_PID_DIR=$C/run

install() {
    mkdir -p "$C" && { [ -f "$ROOT/.cache/.gitignore" ] || printf '*\n' > "$ROOT/.cache/.gitignore"; }
    if [ ! -x "$FLINK_HOME/bin/jobmanager.sh" ]; then
        "$UV" venv --quiet --allow-existing --python "$PYTHON" "$C/venv"
        "$UV" pip install --quiet --python "$C/venv/bin/python" --no-deps \
            "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION"
    fi
    [ -f "$JAR" ] || build_job_server
    # Beam's FlinkRunner, when given no job server, looks for its 2.61.0 jar in this cache and would
    # otherwise download it (Maven Central does not serve it here): point that name at ours, so the
    # plain --runner=FlinkRunner --flink_master=localhost:8081 flags work.  Never replace a real jar.
    local beam_cache=$HOME/.apache_beam/cache/jars
    local beam_name=$beam_cache/beam-runners-flink-1.19-job-server-2.61.0.jar
    mkdir -p "$beam_cache"
    if [ -L "$beam_name" ] || [ ! -e "$beam_name" ]; then ln -sfn "$JAR" "$beam_name"; fi
    # Flink reads its whole conf dir (log4j files too): its defaults plus our config.yaml.
    mkdir -p "$C/conf" "$C/log" "$C/run" "$C/artifacts"
    cp "$FLINK_HOME"/conf/log4j*.properties "$C/conf/"
    cp "$ROOT/flink/config.yaml" "$C/conf/config.yaml"
}

# Beam's gRPC servers (job server; the Fn API servers the TaskManager opens for each job, which run
# this jar's classes too) call NettyServerBuilder.forPort(port), i.e. listen on every interface,
# whatever host they are given.  One line of Beam's ServerFactory.java makes them bind the address
# they were given (localhost / the loopback address) instead.
build_job_server() {
    local src=$C/jobserver-src/org/apache/beam/sdk/fn/server sources=$C/jobserver-sources
    mvn -q dependency:copy -Dartifact=org.apache.beam:beam-sdks-java-core:$BEAM_JOBSERVER_VERSION:jar:sources \
        -DoutputDirectory="$sources"
    mkdir -p "$src"
    unzip -p "$sources/beam-sdks-java-core-$BEAM_JOBSERVER_VERSION-sources.jar" \
            org/apache/beam/sdk/fn/server/ServerFactory.java |
        sed 's/NettyServerBuilder\.forPort(socket\.getPort())/NettyServerBuilder.forAddress(socket)/' \
        > "$src/ServerFactory.java"
    if grep -q 'forPort(' "$src/ServerFactory.java" || ! grep -q 'class InetSocketAddressServerFactory' "$src/ServerFactory.java"; then
        echo "flink: Beam's ServerFactory.java changed, the loopback patch no longer applies" >&2; exit 1
    fi
    mvn -q -f "$ROOT/flink/jobserver-pom.xml" -Dbeam.version=$BEAM_JOBSERVER_VERSION package
    rm -f "$C"/jobserver/original-*.jar  # shade's leftover, an empty jar
}

answers() { curl -sf --max-time 2 "$REST/overview"; }

up() {
    if answers | grep -q '"taskmanagers":[1-9]'; then echo "flink: already running at $REST"; else
        install
        # A cluster half up (say, a JobManager whose TaskManager died) is restarted whole.
        if compgen -G "$C/run/flink-*.pid" >/dev/null; then down >/dev/null 2>&1 || true; fi
        # Side by side: each script spends seconds in JVMs that size memory; a TaskManager started
        # first just retries until its JobManager answers.
        "$FLINK_HOME/bin/jobmanager.sh" start & "$FLINK_HOME/bin/taskmanager.sh" start & wait
        local i
        for i in $(seq 240); do answers | grep -q '"taskmanagers":[1-9]' && break; sleep 0.5; done
        answers | grep -q '"taskmanagers":[1-9]' || { echo "flink: no TaskManager after 120 s, see $C/log" >&2; exit 1; }
    fi
    # The job server keeps one JVM warm for --runner=PortableRunner --job_endpoint=localhost:8099
    # (the FlinkRunner flags start a job server of their own for each pipeline instead).
    if ! job_server_answers; then
        install
        nohup java -jar "$JAR" --flink-master localhost:8081 --job-host localhost --job-port $JOB_PORT \
            --artifact-port 8098 --expansion-port -1 --artifacts-dir "$C/artifacts" \
            > "$C/log/jobserver.log" 2>&1 &
        echo $! > "$C/run/jobserver.pid"
        local i
        for i in $(seq 120); do job_server_answers && break; sleep 0.5; done
        job_server_answers || { echo "flink: job server not up after 60 s, see $C/log/jobserver.log" >&2; exit 1; }
    fi
    status
}

job_server_answers() { (exec 3<>/dev/tcp/127.0.0.1/$JOB_PORT) 2>/dev/null; }

down() {
    # Only the job server this script started: its pid, and only if that pid still runs our jar.
    local pid; pid=$(cat "$C/run/jobserver.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qF "$JAR" "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid"; fi
    rm -f "$C/run/jobserver.pid"
    if [ -x "$FLINK_HOME/bin/taskmanager.sh" ]; then
        "$FLINK_HOME/bin/taskmanager.sh" stop-all || true
        "$FLINK_HOME/bin/jobmanager.sh" stop-all || true
    fi
    echo "flink: stopped"
}

status() {
    echo "flink: $(answers || echo 'not answering') at $REST"
    job_server_answers && echo "beam job server: localhost:$JOB_PORT" || echo "beam job server: not answering"
}

case "${1:-}" in
    install|up|down|status) "$1" ;;
    *) echo "usage: flink/flink.sh install|up|down|status" >&2; exit 2 ;;
esac
