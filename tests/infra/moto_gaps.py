"""moto's server with the gaps filled that applying infra/ falls into: pinned to one moto, guarded.

Stock moto 5.2.5 applied 86 of the deployment's 111 resources (as issue 23
found them); the rest stopped on what it lacks. Each gap is filled here, as close to what AWS answers as the
apply needs, and nothing more:

- ElastiCache parameter groups (``CreateCacheParameterGroup`` and the calls the
  AWS provider reads them back with) are not implemented at all;
- a replication group with ``NumCacheClusters`` gets one member cluster only,
  and none of them exists as a cache cluster, which the provider waits for;
- deleting a replication group or a cache cluster leaves it ``deleting`` for
  ever, so ``terraform destroy`` waits until it times out, and a cache subnet
  group cannot be deleted at all;
- API Gateway refuses to import a Swagger 2.0 document (Chalice writes one):
  the parts the import uses (paths, methods, responses, integrations) are the
  same in OpenAPI 3, so the document is relabelled;
- Application Auto Scaling has no tags (``TagResource``, ``ListTagsForResource``),
  and the provider tags every scalable target (``default_tags``).

The patches touch moto's private code, so this module states the moto version it
was written against and a digest of every member it replaces or wraps;
``tests/infra/test_moto_gaps.py`` fails, naming what to review, once an upgrade
changes either (then update ``MOTO_VERSION`` and ``SOURCE_SHA256``; the test prints
the new digest). The server runs in a process of its own (``python -m
tests.infra.moto_gaps``), so the patches never reach the tests' in-process moto.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import signal
import sys
import threading
from typing import Any

MOTO_VERSION = "5.2.5"
# "module:qualified.name" of every moto member patched below, in order.
PATCHED_MEMBERS = (
    "moto.elasticache.models:ElastiCacheBackend.create_replication_group",
    "moto.elasticache.models:ElastiCacheBackend.delete_replication_group",
    "moto.elasticache.models:ElastiCacheBackend.delete_cache_cluster",
    "moto.elasticache.models:ElastiCacheBackend.list_tags_for_resource",
    "moto.elasticache.responses:ElastiCacheResponse",
    "moto.apigateway.models:APIGatewayBackend.put_rest_api",
    "moto.applicationautoscaling.responses:ApplicationAutoScalingResponse",
)
SOURCE_SHA256 = "9496d1f554353f44f668b7a2b6af696b754efdb8a1a74fa57a1bd47b41e3c9e9"


class MotoGapsOutdated(RuntimeError):
    """The installed moto is not the one these patches were written against."""


def source_digest() -> str:
    """The digest of the installed source of ``PATCHED_MEMBERS``, in order."""
    digest = hashlib.sha256()
    for member in PATCHED_MEMBERS:
        module_name, _, qualified = member.partition(":")
        target: object = importlib.import_module(module_name)
        for part in qualified.split("."):
            target = getattr(target, part)
        digest.update(inspect.getsource(target).encode())  # type: ignore[arg-type]
    return digest.hexdigest()


def check_moto() -> None:
    """Refuse to patch a moto other than the one the patches were written for."""
    installed = importlib.metadata.version("moto")
    if installed != MOTO_VERSION:
        raise MotoGapsOutdated(
            f"moto {installed} is installed, tests/infra/moto_gaps.py was written for "
            f"{MOTO_VERSION}: review every patch there, then update MOTO_VERSION"
        )


################################################################################
# ElastiCache
################################################################################


def _parameter_groups(backend: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(backend, "gap_parameter_groups"):
        backend.gap_parameter_groups = {}
    groups: dict[str, dict[str, Any]] = backend.gap_parameter_groups
    return groups


def _parameter_group_arn(backend: Any, name: str) -> str:
    return f"arn:aws:elasticache:{backend.region_name}:{backend.account_id}:parametergroup:{name}"


def _patch_elasticache() -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound, ElastiCacheException
    from moto.elasticache.models import CacheCluster, ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    class ParameterGroupNotFound(ElastiCacheException):
        code = "CacheParameterGroupNotFound"

    class ParameterGroupExists(ElastiCacheException):
        code = "CacheParameterGroupAlreadyExists"

    def group_or_404(backend: Any, name: str) -> dict[str, Any]:
        group = _parameter_groups(backend).get(name)
        if group is None:
            raise ParameterGroupNotFound(f"CacheParameterGroup {name} not found.")
        return group

    def create_cache_parameter_group(self: Any) -> ActionResult:
        backend = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        if name in _parameter_groups(backend):
            raise ParameterGroupExists(f"Parameter group {name} already exists.")
        arn = _parameter_group_arn(backend, name)
        group = {
            "CacheParameterGroupName": name,
            "CacheParameterGroupFamily": self._get_param("CacheParameterGroupFamily"),
            "Description": self._get_param("Description"),
            "IsGlobal": False,
            "ARN": arn,
            "parameters": {},
        }
        _parameter_groups(backend)[name] = group
        tags = self._get_param("Tags", [])
        if tags:
            backend.tagging_service.tag_resource(arn, tags)
        return ActionResult({"CacheParameterGroup": _public(group)})

    def describe_cache_parameter_groups(self: Any) -> ActionResult:
        backend = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        groups = [group_or_404(backend, name)] if name else _parameter_groups(backend).values()
        return ActionResult({"CacheParameterGroups": [_public(g) for g in groups]})

    def modify_cache_parameter_group(self: Any) -> ActionResult:
        name = self._get_param("CacheParameterGroupName")
        group = group_or_404(self.elasticache_backend, name)
        for item in self._get_param("ParameterNameValues", []):
            group["parameters"][item["ParameterName"]] = item["ParameterValue"]
        return ActionResult({"CacheParameterGroupName": name})

    def reset_cache_parameter_group(self: Any) -> ActionResult:
        name = self._get_param("CacheParameterGroupName")
        group = group_or_404(self.elasticache_backend, name)
        if self._get_bool_param("ResetAllParameters"):
            group["parameters"].clear()
        for item in self._get_param("ParameterNameValues", []):
            group["parameters"].pop(item["ParameterName"], None)
        return ActionResult({"CacheParameterGroupName": name})

    def describe_cache_parameters(self: Any) -> ActionResult:
        group = group_or_404(self.elasticache_backend, self._get_param("CacheParameterGroupName"))
        parameters = [
            {"ParameterName": key, "ParameterValue": value, "Source": "user", "DataType": "string",
             "IsModifiable": True}
            for key, value in sorted(group["parameters"].items())
        ]  # fmt: skip
        return ActionResult({"Parameters": parameters})

    def delete_cache_parameter_group(self: Any) -> EmptyResult:
        name = self._get_param("CacheParameterGroupName")
        group_or_404(self.elasticache_backend, name)
        del _parameter_groups(self.elasticache_backend)[name]
        return EmptyResult()

    def delete_cache_subnet_group(self: Any) -> EmptyResult:
        name = self._get_param("CacheSubnetGroupName")
        if self.elasticache_backend.cache_subnet_groups.pop(name, None) is None:
            raise CacheSubnetGroupNotFound(name)
        return EmptyResult()

    for handler in (
        delete_cache_subnet_group,
        create_cache_parameter_group,
        describe_cache_parameter_groups,
        modify_cache_parameter_group,
        reset_cache_parameter_group,
        describe_cache_parameters,
        delete_cache_parameter_group,
    ):
        setattr(ElastiCacheResponse, handler.__name__, handler)

    # Parameter group ARNs are not in moto's ARN pattern for tags.
    list_tags = ElastiCacheBackend.list_tags_for_resource

    def list_tags_for_resource(self: Any, arn: str) -> dict[str, list[dict[str, str]]]:
        if ":parametergroup:" in arn:
            return self.tagging_service.list_tags_for_resource(arn)  # type: ignore[no-any-return]
        return list_tags(self, arn)

    ElastiCacheBackend.list_tags_for_resource = list_tags_for_resource  # type: ignore[method-assign]

    create_group = ElastiCacheBackend.create_replication_group

    def create_replication_group(self: Any, **kwargs: Any) -> Any:
        group = create_group(self, **kwargs)
        # NumCacheClusters members (a primary, then replicas), each a cache cluster.
        count = kwargs.get("num_cache_clusters") or 1
        azs = kwargs.get("preferred_cache_cluster_azs") or []
        group.member_clusters = [
            f"{group.replication_group_id}-{n:03d}" for n in range(1, count + 1)
        ]
        for index, cluster_id in enumerate(group.member_clusters):
            cluster = CacheCluster(
                account_id=self.account_id, region_name=self.region_name,
                cache_cluster_id=cluster_id, cache_node_type=kwargs.get("cache_node_type"),
                replication_group_id=group.replication_group_id, az_mode=None,
                preferred_availability_zone=azs[index] if index < len(azs) else None,
                num_cache_nodes=1, engine="redis", engine_version=kwargs.get("engine_version"),
                cache_parameter_group_name=kwargs.get("cache_parameter_group_name"),
                cache_subnet_group_name=kwargs.get("cache_subnet_group_name"),
                transit_encryption_enabled=kwargs.get("transit_encryption_enabled"),
                network_type=None, ip_discovery=None, snapshot_name=None,
                preferred_maintenance_window=kwargs.get("preferred_maintenance_window"),
                port=kwargs.get("port"), notification_topic_arn=None,
                auto_minor_version_upgrade=kwargs.get("auto_minor_version_upgrade"),
                snapshot_retention_limit=kwargs.get("snapshot_retention_limit"),
                snapshot_window=kwargs.get("snapshot_window"), auth_token=kwargs.get("auth_token"),
                outpost_mode=None, preferred_outpost_arn=None, preferred_availability_zones=None,
                cache_security_group_names=None, security_group_ids=kwargs.get("security_group_ids"),
                tags=None, snapshot_arns=None, preferred_outpost_arns=None,
                log_delivery_configurations=[], cache_node_ids_to_remove=None,
                cache_node_ids_to_reboot=None,
            )  # fmt: skip
            self.cache_clusters[cluster_id] = cluster
        return group

    ElastiCacheBackend.create_replication_group = create_replication_group  # type: ignore[method-assign]

    delete_group = ElastiCacheBackend.delete_replication_group

    def delete_replication_group(self: Any, replication_group_id: str, **kwargs: Any) -> Any:
        members = list(self.replication_groups.get(replication_group_id, ()).member_clusters
                       if replication_group_id in self.replication_groups else ())  # fmt: skip
        group = delete_group(self, replication_group_id, **kwargs)
        # Gone at once, as AWS ends up: the provider waits for "not found".
        del self.replication_groups[replication_group_id]
        for cluster_id in members:
            self.cache_clusters.pop(cluster_id, None)
        return group

    ElastiCacheBackend.delete_replication_group = delete_replication_group  # type: ignore[method-assign]

    delete_cluster = ElastiCacheBackend.delete_cache_cluster

    def delete_cache_cluster(self: Any, cache_cluster_id: str) -> Any:
        cluster = delete_cluster(self, cache_cluster_id)
        self.cache_clusters.pop(cache_cluster_id, None)
        return cluster

    ElastiCacheBackend.delete_cache_cluster = delete_cache_cluster  # type: ignore[method-assign]


def _public(group: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in group.items() if key != "parameters"}


################################################################################
# API Gateway
################################################################################


def _patch_apigateway() -> None:
    from moto.apigateway.models import APIGatewayBackend

    put_rest_api = APIGatewayBackend.put_rest_api

    def put_swagger_or_openapi(
        self: Any, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool,
        mode: str = "merge",
    ) -> Any:  # fmt: skip
        if api_doc.get("swagger") == "2.0":
            api_doc = {key: value for key, value in api_doc.items() if key != "swagger"}
            api_doc["openapi"] = "3.0.1"
            fail_on_warnings = False
        return put_rest_api(self, function_id, api_doc, fail_on_warnings, mode)

    APIGatewayBackend.put_rest_api = put_swagger_or_openapi  # type: ignore[method-assign]


################################################################################
# Application Auto Scaling
################################################################################


def _patch_appautoscaling() -> None:
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    def tags(self: Any) -> dict[str, dict[str, str]]:
        backend = self.applicationautoscaling_backend
        if not hasattr(backend, "gap_tags"):
            backend.gap_tags = {}
        found: dict[str, dict[str, str]] = backend.gap_tags
        return found

    def tag_resource(self: Any) -> str:
        body = json.loads(self.body)
        tags(self).setdefault(body["ResourceARN"], {}).update(body.get("Tags", {}))
        return "{}"

    def untag_resource(self: Any) -> str:
        arn = self._get_param("ResourceARN")
        for key in self._get_param("TagKeys", []):
            tags(self).get(arn, {}).pop(key, None)
        return "{}"

    def list_tags_for_resource(self: Any) -> str:
        return json.dumps({"Tags": tags(self).get(self._get_param("ResourceARN"), {})})

    for handler in (tag_resource, untag_resource, list_tags_for_resource):
        setattr(ApplicationAutoScalingResponse, handler.__name__, handler)


def install() -> None:
    """Fill every gap (once per process)."""
    check_moto()
    _patch_elasticache()
    _patch_apigateway()
    _patch_appautoscaling()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.infra.moto_gaps", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: a free port, printed on stdout")
    args = parser.parse_args(argv)
    install()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
