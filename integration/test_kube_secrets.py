#!/usr/bin/env python3
"""KubeSecretsApply and KubeSecretsRestore through lockstep-agent-exec against
the Kubernetes stand-in (integration/fixture/kube_node.py):

- a Rails node's gitlab-secrets.json, sealed to the kubernetes node by
  SecretsExport (lockstep-agent-exec on the Rails side), becomes the chart's
  Secrets: <release>-rails-secret's secrets.yml read back parses as YAML with
  its PEM values equal byte for byte, the other Secrets equal, the gitaly
  Secret (no token in gitlab-secrets.json) left as the chart had it;
- KubeSecretsRestore with the returned saved state puts every Secret back
  (those that did not exist deleted), twice with the same end state;
- no kubectl argv and no log line holds secret material;
- secrets sealed for another node, a sealed non-object and a saved state
  naming a Secret outside the chart's table are refused, nothing changed.

    python3 integration/test_kube_secrets.py --build BUILD_DIR [Case.test_name]
"""
import base64
import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fixture"))
import yaml  # noqa: E402  (python3-yaml, scripts/install-deps.sh)

import fleet  # noqa: E402
from fleet import clean_env, yq  # noqa: E402
import gitlab_node  # noqa: E402
import kube_node  # noqa: E402
import testlib  # noqa: E402
from test_fixture_upgrade import decode, field_bytes, field_varint, s  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
RELEASE, NS = "gitlab", "gitlab"
RAILS = "rails-1"
# Operation and OpResult fields (proto/lockstep.proto).
OP_SECRETS_EXPORT, OP_APPLY, OP_RESTORE = 26, 33, 34
RES_SECRETS_EXPORT, RES_APPLY = 18, 24
LS_EINVAL, LS_ECRYPTO, LS_ESTATE = -22, -1009, -1015

# What gitlab-secrets.json gives (gitlab-facts §8): Secret -> key -> (section, field).
SIMPLE = {
    "gitlab-gitlab-shell-secret": ("secret", "gitlab_shell", "secret_token"),
    "gitlab-gitlab-workhorse-secret": ("shared_secret", "gitlab_workhorse", "secret_token"),
    "gitlab-registry-httpsecret": ("secret", "registry", "http_secret"),
    "gitlab-gitlab-pages-secret": ("shared_secret", "gitlab_pages", "api_secret_key"),
    "gitlab-gitlab-kas-secret": ("kas_shared_secret", "gitlab_kas", "api_secret_key"),
    "gitlab-kas-private-api": ("kas_private_api_secret", "gitlab_kas", "private_api_secret_key"),
    "gitlab-incoming-email-auth-token": ("authToken", "mailroom", "incoming_email_auth_token"),
}


def set_build(b):
    global BUILD
    BUILD = b


# ------------------------------------------------------------ libsodium
_na = None


def sodium():
    global _na
    if _na is None:
        _na = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
        if _na.sodium_init() < 0:
            raise RuntimeError("sodium_init failed")
    return _na


def sign_keypair():
    """An Ed25519 pair as libsodium keeps it (sk = seed || pk)."""
    pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
    if sodium().crypto_sign_keypair(pk, sk) != 0:
        raise RuntimeError("crypto_sign_keypair failed")
    return pk.raw, sk.raw


def seal_to_sign_pk(sign_pk, data):
    """crypto_box_seal to the X25519 form of an Ed25519 public key: what
    SecretsExport does, for inputs it would refuse to seal."""
    na = sodium()
    xpk = ctypes.create_string_buffer(32)
    if na.crypto_sign_ed25519_pk_to_curve25519(xpk, sign_pk) != 0:
        raise RuntimeError("not an Ed25519 public key")
    out = ctypes.create_string_buffer(len(data) + 48)
    if na.crypto_box_seal(out, data, ctypes.c_ulonglong(len(data)), xpk) != 0:
        raise RuntimeError("crypto_box_seal failed")
    return out.raw


def write_identity(state_dir, node, sign_sk, roles):
    """<state_dir>/identity/identity.pb as a joined agent has it."""
    iddir = os.path.join(state_dir, "identity")
    os.makedirs(iddir, mode=0o700, exist_ok=True)
    ident = (field_bytes(1, node) + field_bytes(2, "tls+tcp://127.0.0.1:1")
             + field_bytes(3, "localhost") + field_bytes(4, bytes(32))
             + field_bytes(5, sign_sk) + b"".join(field_bytes(6, r) for r in roles))
    fd = os.open(os.path.join(iddir, "identity.pb"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(ident)


def target(release=RELEASE, ns=NS):
    return field_bytes(1, field_bytes(1, release) + field_bytes(2, ns))


def strings(msg, num):
    return [v.decode() for v in msg.get(num, [])]


class KubeSecretsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exec_path = fleet.binaries(BUILD)["agent_exec"]
        if not os.path.exists(cls.exec_path):
            raise AssertionError("no %s (build the project first)" % cls.exec_path)
        cls.dir = tempfile.mkdtemp(prefix="lockstep-kube-secrets-")
        try:
            cls.setup_nodes()
        except BaseException:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise
        cls.op_id = 3300

    @classmethod
    def setup_nodes(cls):
        # The kubernetes node: the chart's stand-in and an identity.
        cls.kube = os.path.join(cls.dir, "kube-1")
        kube_node.make_kube_node(cls.kube, release=RELEASE, namespace=NS)
        cls.kube_pk, sk = sign_keypair()
        kstate = os.path.join(cls.kube, "state")
        write_identity(kstate, "kube-1", sk, ["kubernetes"])
        k = kube_node.kube_paths(cls.kube)
        cls.kube_yml = os.path.join(cls.dir, "agent-kube.yml")
        with open(cls.kube_yml, "w") as f:
            f.write("\n".join([
                "state_dir: %s" % yq(kstate),
                "kubernetes:",
                "  kubectl: %s" % yq(k["kubectl"]),
                "  helm: %s" % yq(k["helm"]),
                "  kubeconfig: %s" % yq(k["kubeconfig"]),
            ]) + "\n")
        # The Rails deploy node: its gitlab-secrets.json, with multi-line
        # PEM values (openid_connect_signing_key, ci_jwt_signing_key).
        rails = os.path.join(cls.dir, RAILS)
        cls.secrets = gitlab_node.gitlab_secrets()
        cls.secrets_path = gitlab_node.node_paths(rails)["secrets_file"]
        os.makedirs(os.path.dirname(cls.secrets_path))
        fd = os.open(cls.secrets_path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(cls.secrets, f, indent=2)
        rstate = os.path.join(rails, "state")
        os.makedirs(rstate)
        cls.rails_yml = os.path.join(cls.dir, "agent-rails.yml")
        with open(cls.rails_yml, "w") as f:
            f.write("\n".join([
                "state_dir: %s" % yq(rstate),
                "gitlab:",
                "  secrets_file: %s" % yq(cls.secrets_path),
            ]) + "\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def op(self, yml, kind, body):
        """(status, error, OpResult fields, stderr) of one operation."""
        type(self).op_id += 1
        raw = field_varint(1, self.op_id) + field_bytes(kind, body)
        p = subprocess.run([self.exec_path, "--config", yml, "op"], input=raw,
                           capture_output=True, timeout=180, env=clean_env())
        why = p.stderr.decode(errors="replace")
        self.assertNotIn("Sanitizer", why)
        m = decode(p.stdout)
        z = m[2][0]
        st = (z >> 1) ^ -(z & 1)
        self.assertEqual(m[1][0], self.op_id)
        self.assertEqual(p.returncode, 0, why)  # the status travels in the result
        return st, s(m, 3), m, p.stderr

    def export(self, to_pk):
        """SecretsExport on the Rails node: its file sealed to to_pk."""
        st, err, m, _ = self.op(self.rails_yml, OP_SECRETS_EXPORT, field_bytes(1, to_pk))
        self.assertEqual(st, 0, err)
        return decode(m[RES_SECRETS_EXPORT][0])[1][0]

    def apply(self, sealed, from_node=RAILS, others=()):
        """others: (node, sealed) of the other Rails nodes."""
        return self.op(self.kube_yml, OP_APPLY,
                       target() + field_bytes(2, sealed) + field_bytes(3, from_node)
                       + b"".join(field_bytes(4, o) for _, o in others)
                       + b"".join(field_bytes(5, n) for n, _ in others))

    def restore(self, saved):
        return self.op(self.kube_yml, OP_RESTORE, target() + field_bytes(2, saved))

    def secret_material(self, *states):
        """Every secret value in clear and in base64, long enough to be
        unmistakable, from gitlab-secrets.json and the given Secret states."""
        vals = set()

        def walk(v):
            if isinstance(v, dict):
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
            elif isinstance(v, str) and len(v) >= 16:
                vals.add(v.encode())
        walk(self.secrets)
        for st in states:
            for data in st.values():
                vals.update(v for v in data.values() if len(v) >= 16)
        out = set()
        for v in vals:
            out.add(v)
            out.add(base64.b64encode(v))
            # A PEM's body lines are secret on their own.
            out.update(line for line in v.split(b"\n") if len(line) >= 16 and b"-----" not in line)
        return out

    def assert_clean(self, blobs, material):
        for blob in blobs:
            for v in material:
                self.assertNotIn(v, blob, "secret material in %r" % blob[:200])

    def test_apply_and_restore(self):
        before = kube_node.secrets(self.kube)
        self.assertNotIn("gitlab-gitlab-pages-secret", before)
        since = time.time()
        sealed = self.export(self.kube_pk)
        st, err, m, log1 = self.apply(sealed)
        self.assertEqual(st, 0, err)
        r = decode(m[RES_APPLY][0])
        saved = r[1][0]
        names = strings(r, 2)
        self.assertEqual(sorted(names), sorted(["gitlab-rails-secret", "gitlab-registry-secret"]
                                               + list(SIMPLE)))
        # The gitaly token lives in gitlab.rb, not gitlab-secrets.json.
        self.assertEqual(strings(r, 3), ["gitlab-gitaly-secret"])
        self.assertIn(b"gitlab-gitaly-secret: no value", log1)
        after = kube_node.secrets(self.kube)

        # secrets.yml: YAML whose production: hash is gitlab_rails exactly.
        yml = after["gitlab-rails-secret"]["secrets.yml"]
        doc = yaml.safe_load(yml.decode())
        self.assertEqual(list(doc), ["production"])
        rails = {k: v for k, v in self.secrets["gitlab_rails"].items() if v is not None}
        self.assertEqual(doc["production"], rails)
        for key in ("openid_connect_signing_key", "ci_jwt_signing_key"):
            want = self.secrets["gitlab_rails"][key]
            self.assertIn("\n", want.rstrip("\n"))
            self.assertEqual(doc["production"][key].encode(), want.encode(), key)
        for name, (key, section, field) in SIMPLE.items():
            self.assertEqual(after[name], {key: self.secrets[section][field].encode()}, name)
        self.assertEqual(after["gitlab-registry-secret"], {
            "registry-auth.key": self.secrets["registry"]["internal_key"].encode(),
            "registry-auth.crt": self.secrets["registry"]["internal_certificate"].encode()})
        # What the chart has and gitlab-secrets.json does not: untouched.
        self.assertEqual(after["gitlab-gitaly-secret"], before["gitlab-gitaly-secret"])
        self.assertEqual(after["gitlab-rails-storage"], before["gitlab-rails-storage"])

        # The saved state is sealed: neither the old nor the new values show.
        material = self.secret_material(before, after)
        self.assert_clean([saved], material)

        st, err, m, log2 = self.restore(saved)
        self.assertEqual(st, 0, err)
        self.assertEqual(sorted(strings(decode(m[RES_APPLY][0]), 2)), sorted(names))
        self.assertEqual(kube_node.secrets(self.kube), before)
        # Twice: the same end state.
        st, err, _, log3 = self.restore(saved)
        self.assertEqual(st, 0, err)
        self.assertEqual(kube_node.secrets(self.kube), before)

        calls = kube_node.read_calls(self.kube, cmd="kubectl", since=since)
        applies = [c["argv"] for c in calls if "apply" in c["argv"]]
        self.assertEqual(len(applies), 3, calls)
        for argv in applies:
            self.assertEqual(argv[-2:], ["-f", "-"])
            self.assertIn("--server-side", argv)
        gets = [c["argv"] for c in calls if "get" in c["argv"]]
        self.assertEqual(len(gets), len(names))
        deletes = [c["argv"] for c in calls if "delete" in c["argv"]]
        self.assertEqual(len(deletes), 2 * 5, deletes)  # pages, kas x2, httpsecret, email
        self.assert_clean([json.dumps(c["argv"]).encode() for c in calls]
                          + [a.encode() for c in calls for a in c["argv"]]
                          + [log1, log2, log3], material)

    def test_apply_keeps_other_managers_keys(self):
        """A key the chart's Secret has beyond the converted ones stays,
        and the restore brings the old value of each key back."""
        kube_node.set_secret(self.kube, "gitlab-gitlab-shell-secret",
                             {"secret": "old-shell-" + "x" * 40, "extra": "kept-" + "y" * 40})
        try:
            before = kube_node.secrets(self.kube)
            st, err, m, _ = self.apply(self.export(self.kube_pk))
            self.assertEqual(st, 0, err)
            shell = kube_node.secrets(self.kube)["gitlab-gitlab-shell-secret"]
            self.assertEqual(shell, {"secret": self.secrets["gitlab_shell"]["secret_token"].encode(),
                                     "extra": before["gitlab-gitlab-shell-secret"]["extra"]})
            st, err, _, _ = self.restore(decode(m[RES_APPLY][0])[1][0])
            self.assertEqual(st, 0, err)
            self.assertEqual(kube_node.secrets(self.kube), before)
        finally:
            kube_node.make_kube_node(self.kube, release=RELEASE, namespace=NS)

    def test_sealed_for_another_node(self):
        before = kube_node.secrets(self.kube)
        other_pk, _ = sign_keypair()
        since = time.time()
        st, err, m, _ = self.apply(self.export(other_pk), from_node=RAILS)
        self.assertEqual(st, LS_ECRYPTO, err)
        self.assertIn("the secrets from %s do not open with this node's key" % RAILS, err)
        self.assertNotIn(RES_APPLY, m)
        self.assertEqual(kube_node.secrets(self.kube), before)
        self.assertEqual(kube_node.read_calls(self.kube, cmd="kubectl", since=since), [])
        # A saved state of another node: refused the same way.
        st, err, _, _ = self.restore(seal_to_sign_pk(other_pk, b'{"lockstep_kube_saved":1}'))
        self.assertEqual(st, LS_ECRYPTO, err)
        self.assertIn("the saved Secrets do not open with this node's key", err)
        self.assertEqual(kube_node.secrets(self.kube), before)

    def test_other_rails_nodes_must_have_the_same_file(self):
        before = kube_node.secrets(self.kube)
        since = time.time()
        other = json.loads(json.dumps(self.secrets))
        other["gitlab_rails"]["db_key_base"] = "f" * 128
        st, err, m, _ = self.apply(self.export(self.kube_pk), others=[
            ("rails-2", seal_to_sign_pk(self.kube_pk, json.dumps(self.secrets).encode())),
            ("rails-3", seal_to_sign_pk(self.kube_pk, json.dumps(other).encode()))])
        self.assertEqual(st, LS_ESTATE, err)
        self.assertIn("the gitlab-secrets.json of rails-3 differs from the one of %s in its "
                      "gitlab_rails section" % RAILS, err)
        self.assertNotIn("f" * 128, err)
        self.assertNotIn(RES_APPLY, m)
        self.assertEqual(kube_node.secrets(self.kube), before)
        self.assertEqual(kube_node.read_calls(self.kube, cmd="kubectl", since=since), [])
        # A section the chart takes nothing from may differ.
        other = json.loads(json.dumps(self.secrets))
        other["gitaly"] = {"note": "this node's own"}
        st, err, m, _ = self.apply(self.export(self.kube_pk), others=[
            ("rails-2", seal_to_sign_pk(self.kube_pk, json.dumps(other).encode()))])
        self.assertEqual(st, 0, err)
        st, err, _, _ = self.restore(decode(m[RES_APPLY][0])[1][0])
        self.assertEqual(st, 0, err)
        self.assertEqual(kube_node.secrets(self.kube), before)

    def test_not_an_object(self):
        before = kube_node.secrets(self.kube)
        since = time.time()
        st, err, _, _ = self.apply(seal_to_sign_pk(self.kube_pk, b'["not", "an", "object"]'))
        self.assertEqual(st, LS_EINVAL, err)
        self.assertEqual(err, "the secrets from %s: not a JSON object" % RAILS)
        st, err, _, _ = self.apply(seal_to_sign_pk(self.kube_pk, b'{"gitlab_rails": {}}'))
        self.assertEqual(st, LS_EINVAL, err)
        self.assertIn("the secrets from %s: gitlab_rails.secret_key_base is missing" % RAILS, err)
        self.assertEqual(kube_node.secrets(self.kube), before)
        self.assertEqual(kube_node.read_calls(self.kube, cmd="kubectl", since=since), [])

    def test_restore_outside_the_chart(self):
        """A saved state (sealed to this node, by anyone who has its public
        key) naming a Secret outside the chart's table changes nothing."""
        before = kube_node.secrets(self.kube)
        since = time.time()
        saved = {"lockstep_kube_saved": 1, "secrets": [
            {"name": "gitlab-gitlab-shell-secret", "exists": False},
            {"name": "gitlab-rails-storage", "exists": False}]}
        st, err, _, _ = self.restore(seal_to_sign_pk(self.kube_pk, json.dumps(saved).encode()))
        self.assertEqual(st, LS_EINVAL, err)
        self.assertIn("gitlab-rails-storage, not a chart Secret of release gitlab", err)
        self.assertEqual(kube_node.secrets(self.kube), before)
        self.assertEqual(kube_node.read_calls(self.kube, cmd="kubectl", since=since), [])


if __name__ == "__main__":
    testlib.run_main(__doc__, set_build)
