"""Black-box test: the stock Python gRPC client (grpcio) against `scalekeeper dev` over mTLS.

Nothing here shares code with the server: the stubs are generated from proto/ with
grpc_tools.protoc, the health and reflection stubs are the ones grpcio ships, and the
server is the built binary started as a subprocess.

    SCALEKEEPER_BIN=target/debug/scalekeeper .venv/bin/python tests/blackbox/test_grpcio.py

(`make blackbox` builds the binary and runs this.)
"""

import os

# The C core logs TLS handshake failures (case 4 provokes one) to stderr: keep it quiet.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import importlib
import importlib.resources
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
SERVICE = "scalekeeper.v1.ScaleService"
START_DEADLINE = 20.0  # seconds for DIR/env to appear and health to say SERVING
STOP_DEADLINE = 15.0  # seconds for the process to exit after SIGTERM
RPC_TIMEOUT = 5.0

# google.rpc.Status and google.rpc.BadRequest, for when googleapis-common-protos is not
# installed (it is not in tools/requirements.txt). Field numbers and types as in
# googleapis/google/rpc/{status,error_details}.proto; fields this test does not read are
# left out (protobuf skips unknown fields), so the wire format is the same.
RPC_PROTOS = {
    "google/rpc/status.proto": """
syntax = "proto3";
package google.rpc;
import "google/protobuf/any.proto";
message Status {
  int32 code = 1;
  string message = 2;
  repeated google.protobuf.Any details = 3;
}
""",
    "google/rpc/error_details.proto": """
syntax = "proto3";
package google.rpc;
message BadRequest {
  message FieldViolation {
    string field = 1;
    string description = 2;
    string reason = 3;
  }
  repeated FieldViolation field_violations = 1;
}
""",
}


def _protoc(include_dirs, out_dir, files, grpc_out=False):
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "grpc_tools.protoc", f"--python_out={out_dir}"]
    if grpc_out:
        args.append(f"--grpc_python_out={out_dir}")
    args += [f"-I{d}" for d in include_dirs] + [str(f) for f in files]
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"protoc failed ({' '.join(args)}):\n{run.stdout}{run.stderr}")


def generate_stubs(out_dir: Path):
    """Generates and imports the scalekeeper stubs (and google.rpc, if not installed)."""
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    proto_root = REPO / "proto"
    protos = sorted(p.relative_to(proto_root) for p in proto_root.rglob("*.proto"))
    _protoc([proto_root, well_known], out_dir, protos, grpc_out=True)
    sys.path.insert(0, str(out_dir))
    try:
        from google.rpc import error_details_pb2, status_pb2  # googleapis-common-protos
    except ImportError:
        rpc_dir = out_dir / "rpc_protos"
        for name, text in RPC_PROTOS.items():
            (rpc_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (rpc_dir / name).write_text(text)
        _protoc([rpc_dir, well_known], out_dir, list(RPC_PROTOS))
        # `google` is a namespace package (protobuf's google.protobuf lives there too).
        importlib.invalidate_caches()
        status_pb2 = importlib.import_module("google.rpc.status_pb2")
        error_details_pb2 = importlib.import_module("google.rpc.error_details_pb2")
    scale_pb2 = importlib.import_module("scalekeeper.v1.scale_pb2")
    scale_pb2_grpc = importlib.import_module("scalekeeper.v1.scale_pb2_grpc")
    return scale_pb2, scale_pb2_grpc, status_pb2, error_details_pb2


def parse_env_file(path: Path) -> dict:
    """Parses `export NAME=value` / `export NAME='value'` lines (shell single quoting)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        name, _, value = line[len("export "):].partition("=")
        if value.startswith("'") and value.endswith("'") and len(value) >= 2:
            value = value[1:-1].replace("'\\''", "'")
        env[name] = value
    return env


class ScalekeeperDevTest(unittest.TestCase):
    proc = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="scalekeeper-blackbox-"))
        try:
            cls._start()
        except BaseException:
            cls._stop(check=False)
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def _start(cls):
        binary = Path(os.environ.get("SCALEKEEPER_BIN", REPO / "target" / "debug" / "scalekeeper"))
        if not binary.is_absolute():
            binary = REPO / binary
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise RuntimeError(
                f"scalekeeper binary not found at {binary}: build it with "
                "`cargo build --locked -p scalekeeper` or set SCALEKEEPER_BIN"
            )
        (cls.scale_pb2, cls.scale_grpc, cls.status_pb2, cls.error_details_pb2) = generate_stubs(
            cls.tmp / "stubs"
        )

        dev_dir = cls.tmp / "dev"
        cls.log_path = cls.tmp / "scalekeeper.log"
        cls.log = open(cls.log_path, "wb")
        cls.proc = subprocess.Popen(
            [str(binary), "dev", "--dir", str(dev_dir), "--grpc-listen", "127.0.0.1:0",
             "--http-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0",
             "--admission-listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=cls.log, stderr=subprocess.STDOUT, cwd=cls.tmp,
            # dev writes its context into the client configuration file: a temporary one, never
            # the developer's ~/.config/scalekeeper/config.yaml.
            env={**os.environ, "SCALEKEEPER_CONFIG": str(cls.tmp / "client-config.yaml")},
        )

        env_file = dev_dir / "env"
        deadline = time.monotonic() + START_DEADLINE
        wanted = {"SCALEKEEPER_SERVER", "SCALEKEEPER_CA", "SCALEKEEPER_CERT", "SCALEKEEPER_KEY", "KUBECONFIG"}
        env = {}
        while not wanted <= env.keys():  # all of them: do not act on a half-written file
            if cls.proc.poll() is not None:
                raise RuntimeError(f"scalekeeper dev exited with {cls.proc.returncode}:\n{cls._log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{env_file} not written within {START_DEADLINE}s:\n{cls._log_tail()}")
            time.sleep(0.05)
            if env_file.is_file():
                env = parse_env_file(env_file)
        cls.env = env
        cls.target = env["SCALEKEEPER_SERVER"]
        cls.ca = Path(env["SCALEKEEPER_CA"]).read_bytes()
        creds = grpc.ssl_channel_credentials(
            root_certificates=cls.ca,
            private_key=Path(env["SCALEKEEPER_KEY"]).read_bytes(),
            certificate_chain=Path(env["SCALEKEEPER_CERT"]).read_bytes(),
        )
        cls.channel = grpc.secure_channel(cls.target, creds)
        cls.stub = cls.scale_grpc.ScaleServiceStub(cls.channel)

        # Wait for the server to say it can answer (caches synced).
        health = health_pb2_grpc.HealthStub(cls.channel)
        last = None
        while True:
            try:
                resp = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1.0)
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError as e:
                last = f"{e.code().name}: {e.details()}"
            if cls.proc.poll() is not None:
                raise RuntimeError(f"scalekeeper dev exited with {cls.proc.returncode}:\n{cls._log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"health of {SERVICE} not SERVING within {START_DEADLINE}s (last: {last}):\n{cls._log_tail()}"
                )
            time.sleep(0.1)

    @classmethod
    def _log_tail(cls, lines=40):
        try:
            cls.log.flush()
            return "\n".join(cls.log_path.read_text(errors="replace").splitlines()[-lines:])
        except Exception:  # noqa: BLE001 - best effort diagnostics
            return "(no log)"

    @classmethod
    def _stop(cls, check=True):
        """SIGTERM, then wait; returns an error message or None."""
        channel = getattr(cls, "channel", None)
        if channel is not None:
            channel.close()
        proc, problem = cls.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                problem = f"scalekeeper dev did not exit within {STOP_DEADLINE}s of SIGTERM (killed)"
        if problem is None and proc is not None and proc.returncode != 0:
            problem = f"scalekeeper dev exited with {proc.returncode} after SIGTERM, expected 0"
        if problem and check:
            problem += f"\n{cls._log_tail()}"
        if hasattr(cls, "log"):
            cls.log.close()
        return problem

    @classmethod
    def tearDownClass(cls):
        problem = cls._stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if problem:
            raise AssertionError(problem)

    # The tests run in name order; only test_2_set_replicas writes (to shop/cart).

    def test_1_list_and_get(self):
        pb = self.scale_pb2
        resp = self.stub.ListDeployments(pb.ListDeploymentsRequest(), timeout=RPC_TIMEOUT)
        names = [f"{d.namespace}/{d.name}" for d in resp.deployments]
        self.assertEqual(names, ["payments/ledger", "shop/cart", "shop/web"])
        self.assertEqual(resp.next_page_token, "")

        web = self.stub.GetDeployment(pb.GetDeploymentRequest(namespace="shop", name="web"),
                                      timeout=RPC_TIMEOUT).deployment
        self.assertEqual((web.namespace, web.name), ("shop", "web"))
        self.assertEqual(web.spec_replicas, 3)
        self.assertEqual(web.sync_status, pb.SYNC_STATUS_UNMANAGED,
                         pb.SyncStatus.Name(web.sync_status))
        self.assertFalse(web.HasField("desired_replicas"))
        self.assertEqual(web.version, "")

    def explain_cart(self):
        pb = self.scale_pb2
        return self.stub.Explain(pb.ExplainRequest(namespace="shop", name="cart"), timeout=RPC_TIMEOUT)

    def test_2_set_replicas(self):
        pb = self.scale_pb2
        # The sample's GitOps fight (make run's walkthrough): Argo CD owns shop/cart's
        # spec.replicas, and explain names it with the setting that stops the fight.
        before = self.explain_cart()
        owners = {o.manager: o for o in before.replicas_owners}
        self.assertIn("argocd-controller", owners, before)
        self.assertEqual(owners["argocd-controller"].tool, "Argo CD")
        self.assertEqual(owners["argocd-controller"].operation, "Apply")
        self.assertIn("RespectIgnoreDifferences=true", owners["argocd-controller"].fix)
        self.assertFalse(before.HasField("effective_replicas"), "shop/cart is unmanaged")

        first = self.stub.SetReplicas(pb.SetReplicasRequest(namespace="shop", name="cart", replicas=4),
                                      timeout=RPC_TIMEOUT).deployment
        self.assertTrue(first.HasField("desired_replicas"))
        self.assertEqual(first.desired_replicas, 4)
        self.assertNotEqual(first.version, "")
        self.assertEqual(first.mode, pb.MODE_ENFORCE, pb.Mode.Name(first.mode))

        # The current version is accepted, and the write moves the version on...
        second = self.stub.SetReplicas(
            pb.SetReplicasRequest(namespace="shop", name="cart", replicas=5, expected_version=first.version),
            timeout=RPC_TIMEOUT,
        ).deployment
        self.assertEqual(second.desired_replicas, 5)
        self.assertNotIn(second.version, ("", first.version))

        # ...so the first version is now stale: ABORTED, and nothing is written.
        with self.assertRaises(grpc.RpcError) as cm:
            self.stub.SetReplicas(
                pb.SetReplicasRequest(namespace="shop", name="cart", replicas=6, expected_version=first.version),
                timeout=RPC_TIMEOUT,
            )
        self.assertEqual(cm.exception.code(), grpc.StatusCode.ABORTED, cm.exception.details())
        after = self.stub.GetDeployment(pb.GetDeploymentRequest(namespace="shop", name="cart"),
                                        timeout=RPC_TIMEOUT).deployment
        self.assertEqual((after.desired_replicas, after.version), (5, second.version))

        # Declared now, so the two will fight: the notes say so, with Argo CD's fix.
        explained = self.explain_cart()
        self.assertEqual((explained.effective_replicas, explained.rule), (5, pb.RULE_DECLARED))
        notes = "\n".join(explained.notes)
        self.assertIn("argocd-controller", notes)
        self.assertIn("ignoreDifferences", notes)

    def test_3_invalid_argument_details(self):
        pb = self.scale_pb2
        with self.assertRaises(grpc.RpcError) as cm:
            self.stub.SetReplicas(pb.SetReplicasRequest(namespace="shop", name="web", replicas=-1),
                                  timeout=RPC_TIMEOUT)
        err = cm.exception
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT, err.details())
        self.assertIn("replicas", err.details())

        trailers = dict(err.trailing_metadata() or ())
        self.assertIn("grpc-status-details-bin", trailers)
        status = self.status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        self.assertEqual(status.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(status.message, err.details())
        bad_requests = []
        for any_msg in status.details:
            br = self.error_details_pb2.BadRequest()
            if any_msg.Is(br.DESCRIPTOR):
                self.assertTrue(any_msg.Unpack(br))
                bad_requests.append(br)
        self.assertEqual(len(bad_requests), 1, [d.type_url for d in status.details])
        fields = [v.field for v in bad_requests[0].field_violations]
        self.assertEqual(fields, ["replicas"])
        self.assertIn("-1", bad_requests[0].field_violations[0].description)

        # Rejected before any write: shop/web is still unmanaged at 3.
        web = self.stub.GetDeployment(pb.GetDeploymentRequest(namespace="shop", name="web"),
                                      timeout=RPC_TIMEOUT).deployment
        self.assertEqual((web.spec_replicas, web.sync_status), (3, pb.SYNC_STATUS_UNMANAGED))

    def test_4_reflection(self):
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        responses = list(stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=RPC_TIMEOUT))
        self.assertEqual(len(responses), 1)
        self.assertEqual(responses[0].WhichOneof("message_response"), "list_services_response",
                         responses[0])
        services = {s.name for s in responses[0].list_services_response.service}
        self.assertIn(SERVICE, services)
        self.assertIn("grpc.health.v1.Health", services)

    def test_5_no_client_certificate_refused(self):
        creds = grpc.ssl_channel_credentials(root_certificates=self.ca)
        with grpc.secure_channel(self.target, creds) as channel:
            stub = self.scale_grpc.ScaleServiceStub(channel)
            with self.assertRaises(grpc.RpcError) as cm:
                stub.ListDeployments(self.scale_pb2.ListDeploymentsRequest(), timeout=RPC_TIMEOUT)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE, cm.exception.details())
            # Refused in the handshake, not answered: health says the same.
            with self.assertRaises(grpc.RpcError) as cm:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE, cm.exception.details())


if __name__ == "__main__":
    unittest.main()
