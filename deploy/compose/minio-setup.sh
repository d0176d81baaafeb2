#!/bin/sh
# One-shot (docker-compose.yaml, service minio-setup, image minio/mc):
# create grlscaler's bucket and the S3 user the workers log in as, whose
# policy allows that bucket only; the workers never see MinIO's root
# credentials. Safe to rerun: an existing bucket is kept and the user's
# secret and policy are set again.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${GRL_S3_BUCKET:?}" "${GRL_S3_ACCESS_KEY:?}" "${GRL_S3_SECRET_KEY:?}"
# The example env file's placeholders are not passwords.
for v in "$MINIO_ROOT_PASSWORD" "$GRL_S3_SECRET_KEY"; do
	if [ "$v" = change-me ]; then
		echo "minio-setup: replace the change-me values in .env.compose and run up again" >&2
		exit 1
	fi
done
endpoint=${MINIO_ENDPOINT:-http://minio:9000}

until mc alias set grl "$endpoint" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null; do
	echo "minio-setup: waiting for MinIO at $endpoint"
	sleep 2
done

mc mb --ignore-existing "grl/$GRL_S3_BUCKET"

# The mc image is minimal (a shell and mc; no grep, no mktemp), so only
# shell builtins below.
policy=/tmp/grlscaler-policy.json
printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::%s","arn:aws:s3:::%s/*"]}]}\n' \
	"$GRL_S3_BUCKET" "$GRL_S3_BUCKET" >"$policy"
mc admin policy create grl grlscaler "$policy"

mc admin user add grl "$GRL_S3_ACCESS_KEY" "$GRL_S3_SECRET_KEY"
# Attaching a policy that is already attached is an error; what matters is
# that it is attached afterwards.
mc admin policy attach grl grlscaler --user "$GRL_S3_ACCESS_KEY" || true
info=$(mc admin user info grl "$GRL_S3_ACCESS_KEY")
case $info in
*grlscaler*) ;;
*)
	echo "minio-setup: policy grlscaler is not attached to $GRL_S3_ACCESS_KEY" >&2
	exit 1
	;;
esac
echo "minio-setup: bucket $GRL_S3_BUCKET and user $GRL_S3_ACCESS_KEY ready"
