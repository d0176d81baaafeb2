#!/bin/sh
# One-shot (docker-compose.yaml, service temporal-setup, image
# temporalio/admin-tools): wait until the Temporal server answers, create
# the namespace the workers use, and register grlscaler's search attributes
# in it (GRL_SEARCH_ATTRIBUTES, all of type Keyword, as
# workflows/api/search.go declares them). Safe to rerun: what exists is
# kept.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${GRL_SEARCH_ATTRIBUTES:?}"
retention=${GRL_NAMESPACE_RETENTION:-30d}

t() {
	temporal --address "$TEMPORAL_ADDRESS" "$@"
}

# retry N CMD...: run CMD until it succeeds, at most N times, 2 s apart.
retry() {
	n=$1
	shift
	i=1
	until "$@"; do
		if [ "$i" -ge "$n" ]; then
			echo "temporal-setup: gave up after $n attempts: $*" >&2
			return 1
		fi
		i=$((i + 1))
		sleep 2
	done
}

namespace_exists() {
	t operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1
}

create_namespace() {
	t operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$retention" || namespace_exists
}

attribute_exists() {
	t operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" | grep -qw "$1"
}

create_attribute() {
	t operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$1" --type Keyword || attribute_exists "$1"
}

echo "temporal-setup: waiting for Temporal at $TEMPORAL_ADDRESS"
retry 90 t operator cluster health >/dev/null

if namespace_exists; then
	echo "temporal-setup: namespace $TEMPORAL_NAMESPACE exists"
else
	echo "temporal-setup: creating namespace $TEMPORAL_NAMESPACE (retention $retention)"
	retry 10 create_namespace
fi

# A new namespace reaches every server role a few seconds after it is
# created; until then adding its attributes fails, hence the retries.
for name in $GRL_SEARCH_ATTRIBUTES; do
	if attribute_exists "$name"; then
		echo "temporal-setup: search attribute $name exists"
	else
		echo "temporal-setup: registering search attribute $name (Keyword)"
		retry 30 create_attribute "$name"
	fi
done
echo "temporal-setup: done"
