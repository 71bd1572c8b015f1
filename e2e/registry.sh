#!/usr/bin/env bash
# e2e: publishing. A local registry (Debian's docker-registry, on
# 127.0.0.1 with a config of its own); as the unprivileged user, one
# command builds bookworm minbase for amd64 and arm64 and pushes one
# multi-platform index; skopeo sees both; docker pulls and runs the amd64
# image, pulls the arm64 one by platform (its layer has the aarch64 libc);
# --cmd and --env show in docker inspect; debstrap push of an .oci.tar.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"
source "$(dirname "$0")/docker.sh"

d=$work/registry
mkdir -p "$d" && chown "$user" "$d"

step "a local registry"
command -v docker-registry >/dev/null || apt-get install -y -qq docker-registry >/dev/null 2>&1
port=$((25000 + RANDOM % 10000))
cat > "$d/config.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $d/store
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$d/config.yml" > "$d/registry.log" 2>&1 &
regpid=$!
trap 'kill $regpid 2>/dev/null; [ -n "${E2E_KEEP:-}" ] || { umount_all; rm -rf "$work"; }' EXIT
for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.2; done
if curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; then ok "docker-registry on 127.0.0.1:$port"
else bad "the registry did not start: $(tail -3 "$d/registry.log")"; summary; exit 1; fi
ref=127.0.0.1:$port/debian:bookworm

step "one command: two platforms, one index, pushed"
t0=$SECONDS
if as_user "$DEBSTRAP" build -q --platforms=amd64,arm64 --variant=minbase bookworm "docker://$ref" "$DM" > "$d/push.log" 2>&1; then
  ok "built amd64 and arm64 and pushed as $user in $((SECONDS-t0))s: $(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$ref" 2>/dev/null | cut -c1-19)…"
else bad "build --platforms to docker://: $(tail -3 "$d/push.log")"; fi
two=$((SECONDS-t0))
skopeo inspect --raw --tls-verify=false "docker://$ref" > "$d/index.json" 2>"$d/skopeo.err"
plats=$(jq -r '.manifests[] | .platform.architecture + (if .platform.variant then "/" + .platform.variant else "" end)' "$d/index.json" 2>/dev/null | sort | tr '\n' ' ')
[ "$(jq -r .mediaType "$d/index.json" 2>/dev/null)" = application/vnd.oci.image.index.v1+json ] && [ "$plats" = "amd64 arm64/v8 " ] &&
  ok "skopeo inspect --raw: an OCI index with $plats" || bad "index: $plats $(head -c 300 "$d/index.json") $(cat "$d/skopeo.err")"
skopeo copy -q --src-tls-verify=false --override-arch arm64 "docker://$ref" "dir:$d/arm64" 2>"$d/copy.err" &&
  layer=$(jq -r '.layers[0].digest' "$d/arm64/manifest.json" | cut -d: -f2) &&
  tar -tf "$d/arm64/$layer" 2>/dev/null | grep -E '^(\./)?usr/lib/aarch64-linux-gnu/libc\.so\.6$' >/dev/null &&
  ok "the arm64 manifest's layer has /usr/lib/aarch64-linux-gnu/libc.so.6" || bad "arm64 layer: $(cat "$d/copy.err")"

step "docker pulls and runs it"
if docker_up; then
  if docker pull -q "$ref" >/dev/null 2>"$d/pull.err" && out=$(docker run --rm --network=host "$ref" sh -c 'cat /etc/debian_version; dpkg --print-architecture' 2>&1); then
    ok "docker pull + run: Debian $(echo $out | tr '\n' ' ')"
  else bad "docker pull/run: $(cat "$d/pull.err") $out"; fi
  if docker pull -q --platform linux/arm64 "$ref" >/dev/null 2>"$d/pull64.err" &&
    [ "$(docker image inspect --format '{{.Architecture}}' "$ref")" = arm64 ]; then ok "docker pull --platform linux/arm64: the arm64 image"
  else bad "docker pull --platform linux/arm64: $(cat "$d/pull64.err")"; fi
  docker rmi -f "$ref" >/dev/null 2>&1
  cfgref=127.0.0.1:$port/debian:config
  if as_user "$DEBSTRAP" build -q --variant=minbase --cmd='["sleep","1"]' --env=FOO=bar --label=org.example.team=infra bookworm "docker://$cfgref" "$DM" > "$d/cfg.log" 2>&1 &&
    docker pull -q "$cfgref" >/dev/null 2>&1; then
    got=$(docker image inspect --format '{{json .Config.Cmd}} {{index .Config.Labels "org.example.team"}} {{range .Config.Env}}{{.}} {{end}}' "$cfgref")
    case "$got" in '["sleep","1"] infra '*FOO=bar*) ok "--cmd, --label and --env in docker inspect: $got" ;; *) bad "docker inspect: $got" ;; esac
  else bad "--cmd/--env build: $(tail -3 "$d/cfg.log")"; fi
  docker rmi -f "$cfgref" >/dev/null 2>&1
  if as_user "$DEBSTRAP" build -q --mode=extract --variant=minbase --tag=debstrap-e2e/tagged:1 bookworm "$d/tagged.oci.tar" "$DM" > "$d/tag.log" 2>&1 &&
    docker load -i "$d/tagged.oci.tar" >/dev/null 2>&1 && docker image inspect debstrap-e2e/tagged:1 >/dev/null 2>&1; then
    ok "--tag: docker load of the .oci.tar gives debstrap-e2e/tagged:1"
  else bad "--tag: $(tail -2 "$d/tag.log")"; fi
  docker rmi -f debstrap-e2e/tagged:1 >/dev/null 2>&1
else bad "no docker engine"; fi

step "debstrap push of an OCI archive; two single builds for comparison"
t0=$SECONDS
as_user "$DEBSTRAP" build -q --rebuild --variant=minbase --architectures=amd64 bookworm "$d/amd64.oci.tar" "$DM" > "$d/s1.log" 2>&1
as_user "$DEBSTRAP" build -q --rebuild --variant=minbase --architectures=arm64 bookworm "$d/arm64.oci.tar" "$DM" > "$d/s2.log" 2>&1
single=$((SECONDS-t0))
echo "    two platforms in one build: ${two}s; two single builds: ${single}s"
if out=$(as_user "$DEBSTRAP" push "$d/amd64.oci.tar" "127.0.0.1:$port/debian:pushed" 2>&1) &&
  skopeo inspect --tls-verify=false "docker://127.0.0.1:$port/debian:pushed" >/dev/null 2>&1; then
  ok "debstrap push: $(echo "$out" | tail -1 | cut -c1-60)…"
else bad "debstrap push: $out"; fi
if command -v podman >/dev/null; then
  if as_user podman pull -q --tls-verify=false "$ref" >/dev/null 2>&1 && as_user podman run --rm --network=host "$ref" true; then
    ok "podman (rootless) pulls and runs the index"
  else bad "podman pull/run failed"; fi
else echo "    podman is not installed: not checked"; fi

summary
