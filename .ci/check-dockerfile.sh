#!/usr/bin/env bash
# Lints a Dockerfile for what llm-relay's image promises, where no Docker engine or hadolint is at
# hand (hadolint is not packaged for Debian 12, and its npm wrappers download it at install).
# The rules follow hadolint's (DLxxxx) and `docker build --check`'s where they overlap.
#
#   bash .ci/check-dockerfile.sh [Dockerfile]    # exit 0 when every rule holds, 1 otherwise
set -euo pipefail

file="${1:-Dockerfile}"
[ -r "$file" ] || {
  echo "check-dockerfile: cannot read $file" >&2
  exit 2
}

failures=0
ok() { printf 'ok    %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$*"
  failures=$((failures + 1))
}

# One instruction a line: comments and blank lines dropped, `\` continuations joined, blanks squeezed.
instructions() {
  awk '
    /^[[:space:]]*#/ { next }
    /^[[:space:]]*$/ { next }
    {
      line = $0
      if (sub(/\\[[:space:]]*$/, "", line)) { buf = buf line " "; next }
      buf = buf line
      gsub(/[[:space:]]+/, " ", buf)
      sub(/^ /, "", buf)
      sub(/ $/, "", buf)
      print buf
      buf = ""
    }
    END { if (buf != "") { sub(/ $/, "", buf); print buf } }
  ' "$1"
}

mapfile -t lines < <(instructions "$file")

stages=0
declare -a stage_names=()
# What the final stage does, reset at every FROM.
final_user=""
final_healthcheck=""
final_copies_from_stage=0
exposes_3000=0
volume_data=0

is_json_array() { [[ "$1" =~ ^\[.*\]$ ]]; }

for line in "${lines[@]}"; do
  op="${line%% *}"
  op="${op^^}"
  args=""
  [[ "$line" == *" "* ]] && args="${line#* }"
  case "$op" in
    FROM)
      stages=$((stages + 1))
      final_user=""
      final_healthcheck=""
      final_copies_from_stage=0
      read -r -a words <<<"$args"
      image=""
      for word in "${words[@]}"; do
        [[ "$word" == --* ]] && continue
        image="$word"
        break
      done
      alias=""
      if [ "${#words[@]}" -ge 3 ] && [ "${words[-2],,}" = "as" ]; then alias="${words[-1],,}"; fi
      name="${image,,}"
      if [ "$name" = "scratch" ] || [[ " ${stage_names[*]} " == *" $name "* ]]; then
        ok "FROM $image (a stage, not an image)"
      elif [[ "$image" == *@sha256:* ]]; then
        ok "FROM $image is pinned by digest"
      else
        last="${image##*/}"
        if [[ "$last" != *:* ]]; then
          fail "FROM $image has no tag: pin a version (DL3006)"
        elif [ "${last##*:}" = "latest" ]; then
          fail "FROM $image uses latest: pin a version (DL3007)"
        else
          ok "FROM $image is pinned by tag"
        fi
      fi
      [ -n "$alias" ] && stage_names+=("$alias")
      ;;
    USER)
      final_user="$args"
      ;;
    HEALTHCHECK)
      final_healthcheck="$args"
      ;;
    COPY)
      [[ "$args" =~ (^|\ )--from= ]] && final_copies_from_stage=1
      ;;
    ADD)
      fail "ADD $args: use COPY for files and folders (DL3020)"
      ;;
    EXPOSE)
      for port in $args; do
        [[ "$port" == "3000" || "$port" == "3000/tcp" ]] && exposes_3000=1
      done
      ;;
    VOLUME)
      [[ " $(tr -d '[]",' <<<"$args") " == *" /data "* ]] && volume_data=1
      ;;
    CMD | ENTRYPOINT)
      if is_json_array "$args"; then
        ok "$op is in exec form"
      else
        fail "$op $args: use the JSON exec form, so signals reach the process and no shell is needed (DL3025)"
      fi
      ;;
    WORKDIR)
      [[ "$args" == /* || "$args" == \$* ]] || fail "WORKDIR $args is relative: use an absolute path (DL3000)"
      ;;
    ENV | ARG)
      for word in $args; do
        key="${word%%=*}"
        if [[ "${key^^}" =~ (KEY|SECRET|PASSWORD|TOKEN) ]]; then
          fail "$op $key: secrets do not belong in the image; pass them at run time (SecretsUsedInArgOrEnv)"
        fi
      done
      ;;
    RUN)
      if [[ "$args" == *"bun install"* && "$args" != *"--frozen-lockfile"* ]]; then
        fail "RUN $args: bun install without --frozen-lockfile may resolve other versions than bun.lock"
      fi
      ;;
  esac
done

if [ "$stages" -ge 2 ] && [ "$final_copies_from_stage" -eq 1 ]; then
  ok "multi-stage: the final stage copies its files from an earlier one"
else
  fail "not multi-stage: build in one stage, copy only the result into a small final one"
fi

user="${final_user,,}"
if [ -z "$user" ]; then
  fail "no USER in the final stage: the image would run as root (DL3002)"
elif [[ "$user" == "root" || "$user" == root:* || "$user" == "0" || "$user" == 0:* ]]; then
  fail "USER $final_user: the image runs as root (DL3002)"
else
  ok "USER $final_user is not root"
fi

if [ -z "$final_healthcheck" ]; then
  fail "no HEALTHCHECK in the final stage"
elif [[ "${final_healthcheck^^}" == "NONE" ]]; then
  fail "HEALTHCHECK NONE turns the health check off"
elif [[ "$final_healthcheck" =~ (^|\ )CMD\ \[.*\]$ ]]; then
  ok "HEALTHCHECK runs in exec form: $final_healthcheck"
else
  fail "HEALTHCHECK $final_healthcheck: use CMD [\"…\"] (exec form; a minimal image has no shell)"
fi

if [ "$exposes_3000" -eq 1 ]; then ok "EXPOSE 3000"; else fail "no EXPOSE 3000"; fi
if [ "$volume_data" -eq 1 ]; then ok "VOLUME /data"; else fail "no VOLUME /data for the database"; fi

if [ "$failures" -gt 0 ]; then
  echo "$file: $failures problem(s)"
  exit 1
fi
echo "$file: every check passed"
