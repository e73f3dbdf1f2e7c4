"""Work on a Dask cluster (``dask.distributed``): feature-extraction chunks and sweep runs as tasks.

Optional: ``pip install -e .[cluster]``. Nothing here imports Dask until a
cluster is actually asked for, so without ``--cluster`` (or the GUI's Compute
choice) SpeechLab never loads it.

Where the work goes is one process-wide setting, :func:`configured`: an
address given by :func:`use` (the CLI's ``--cluster``), or the environment
variable ``SPEECHLAB_CLUSTER`` (the GUI sets it so that the training children
it spawns extract on the cluster too). The extractor and the sweep ask for it;
code running *on* a cluster worker turns it off (:func:`off`), so a task never
sends work to the cluster it runs on.

Results always come back to this machine: features into the local cache, sweep
runs into the local run history. The data folder must be visible at the same
path on every worker.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading

from .errors import SpeechLabError

ENV = "SPEECHLAB_CLUSTER"
ENV_FIELD = "SPEECHLAB_CLUSTER_FIELD"  # where the choice was made, for messages: "--cluster", "Compute"
CONNECT_SECONDS = 10.0  # a wrong address answers within this
LOCAL = "this machine"

_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.\-]+)(?::(?P<port>\d+))?$")


class ClusterError(SpeechLabError):
    """The cluster cannot be used: Dask missing, a malformed address, no scheduler, a scheduler gone."""


_lock = threading.RLock()
_default = [None]  # the address set by use(); None: the environment decides
_clients = {}  # address -> distributed.Client, one per process
_local = threading.local()


def check_address(text, field="--cluster"):
    """``host:port`` or ``scheme://host:port`` -> the normalised address (``tcp://host:port``).

    Raises ClusterError naming ``field`` for anything else (no port: Dask's scheduler listens on 8786).
    """
    raw = "" if text is None else str(text).strip()
    if not raw:
        raise ClusterError(f"{field} is empty: give the Dask scheduler's address, such as tcp://10.0.0.5:8786")
    if raw.startswith("inproc://"):  # a scheduler inside this process (tests, notebooks)
        return raw
    m = _ADDRESS.match(raw)
    if m is None or (m.group("scheme") and m.group("scheme") not in _SCHEMES):
        raise ClusterError(f"{field} '{raw}' is not a Dask scheduler address; write it as tcp://HOST:PORT "
                           "(e.g. tcp://10.0.0.5:8786)")
    scheme = m.group("scheme") or "tcp"
    port = m.group("port")
    if port is None:
        raise ClusterError(f"{field} '{raw}' has no port; the scheduler prints it when it starts "
                           "(default tcp://HOST:8786)")
    if not 1 <= int(port) <= 65535:
        raise ClusterError(f"{field} '{raw}': port {port} is not between 1 and 65535")
    return f"{scheme}://{m.group('host')}:{int(port)}"


def configured():
    """The scheduler address work should go to, or None for this machine."""
    if getattr(_local, "off", False):
        return None
    address = _default[0] or os.environ.get(ENV) or None
    return address.strip() or None if address else None


def set_default(address, field=None):
    """Send work to ``address`` (None: this machine) from now on, in this process and the processes it starts.
    ``field``: what messages name as the place it was chosen (the GUI's "Compute"; default "--cluster")."""
    with _lock:
        _default[0] = address or None
        if address:
            os.environ[ENV] = address
        else:
            os.environ.pop(ENV, None)
        if address and field:
            os.environ[ENV_FIELD] = field
        else:
            os.environ.pop(ENV_FIELD, None)


def configured_field():
    """How messages name the cluster setting: ``--cluster`` (the CLI) or the GUI's "Compute"."""
    return os.environ.get(ENV_FIELD) or "--cluster"


@contextlib.contextmanager
def use(address, field="--cluster"):
    """For the block: work goes to the scheduler at ``address`` (checked and connected first); the
    connection is closed afterwards. ``address`` None: nothing changes (and Dask is not imported)."""
    if not address:
        yield None
        return
    address = check_address(address, field)
    previous_default, previous_env = _default[0], os.environ.get(ENV)
    connect(address, field)
    set_default(address)
    try:
        yield address
    finally:
        with _lock:
            _default[0] = previous_default
            if previous_env is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = previous_env
        close(address)


@contextlib.contextmanager
def off():
    """In this thread, for the block: work stays here (a task on a worker must not send work to the cluster)."""
    before = getattr(_local, "off", False)
    _local.off = True
    try:
        yield
    finally:
        _local.off = before


def _import_distributed(field):
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"{field}: Dask is not installed; install it with: pip install -e .[cluster]") from None
    return distributed


def connect(address, field="--cluster"):
    """The connected ``distributed.Client`` of ``address`` (made once per process, reused).

    Raises ClusterError in one line when no scheduler answers within :data:`CONNECT_SECONDS`.
    """
    address = check_address(address, field)
    with _lock:
        client = _clients.get(address)
        if client is not None and client.status == "running":
            return client
        if client is not None:
            _close_quietly(client)
            _clients.pop(address, None)
        distributed = _import_distributed(field)
        try:
            client = distributed.Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"{field} {address}: no Dask scheduler answers there ({_reason(exc)}); start one "
                               "with 'dask scheduler' and check the address") from None
        except Exception as exc:  # noqa: BLE001 - anything else Dask raises while connecting, in one line
            raise ClusterError(f"{field} {address}: cannot connect to the Dask scheduler ({_reason(exc)})") from None
        _clients[address] = client
        return client


def close(address=None):
    """Close this process's connection to ``address`` (None: every connection)."""
    with _lock:
        for key in [address] if address else list(_clients):
            client = _clients.pop(key, None)
            if client is not None:
                _close_quietly(client)


def _close_quietly(client):
    with contextlib.suppress(Exception):
        client.close(timeout=5)


def _reason(exc):
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text[:160]


def gone(address, exc, field="--cluster"):
    """The ClusterError for a scheduler that stopped answering in the middle of the work."""
    return ClusterError(f"{field} {address}: the Dask scheduler went away ({_reason(exc)}); what finished "
                        "before is kept")


def is_connection_error(exc):
    """True for what Dask raises when the scheduler or the connection to it is lost."""
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"CommClosedError", "OSError", "TimeoutError", "FutureCancelledError", "CancelledError",
                         "StreamClosedError"})


def describe(address, field="Compute"):
    """Connect and say what is there, as plain data (the GUI's Test connection runs this in a worker).

    Returns
    -------
    dict: address, workers (count), threads (total), memory_gb, dashboard (URL or "")
    """
    address = check_address(address, field)
    distributed = _import_distributed(field)
    try:
        with distributed.Client(address, timeout=CONNECT_SECONDS, set_as_default=False) as client:
            info = client.scheduler_info()
            workers = info.get("workers") or {}
            return {"address": address, "workers": len(workers),
                    "threads": int(sum(w.get("nthreads", 0) for w in workers.values())),
                    "memory_gb": round(sum(w.get("memory_limit", 0) or 0 for w in workers.values()) / 1e9, 1),
                    "dashboard": str(getattr(client, "dashboard_link", "") or "")}
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"{field} {address}: no Dask scheduler answers there ({_reason(exc)})") from None
    except Exception as exc:  # noqa: BLE001
        raise ClusterError(f"{field} {address}: cannot connect to the Dask scheduler ({_reason(exc)})") from None


def worker_address():
    """On a Dask worker: its address (per-worker counts); elsewhere ''."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return ""


# -------------------------------------------------------------- running tasks


def run_tasks(address, fn, argument_lists, *, accept, should_stop=None, report=None, retries=2, field=None,
              on_stop=None, poll=None):
    """Run ``fn(*args)`` for every tuple of ``argument_lists`` on the cluster; ``accept(i, value)`` each
    answer here, in the calling thread, as it arrives (each exactly once, even when a worker died and
    Dask ran the task again). A task that raised gives ``accept(i, exception)``.

    ``should_stop()`` is polled ten times a second. When it turns True: without ``on_stop`` every task not
    finished is cancelled (the cluster drops it) and False is returned at once; with ``on_stop(client)``
    (a sweep: it tells the running tasks to stop and keep what they have) the tasks no worker has
    started are cancelled and the running ones are still awaited. ``poll()`` runs at every turn (events).
    Returns True when every task answered. A scheduler that goes away raises ClusterError in one line;
    what was accepted before stays accepted.
    """
    import time

    field = field or configured_field()
    client = connect(address, field)
    futures = []
    stopping = False
    try:
        token = _token()
        for i, args in enumerate(argument_lists):
            futures.append(client.submit(fn, *args, pure=False, retries=retries,
                                         key=f"speechlab-{fn.__name__}-{token}-{i}"))
        index = {f.key: i for i, f in enumerate(futures)}
        pending = set(futures)
        while pending:
            done = [f for f in pending if f.done()]
            if not done:
                time.sleep(0.05)  # the futures' state is local: polling it costs nothing on the network
            finished = [f for f in done if f.status == "finished"]
            # One gather for every answer that is ready: a result() each was a round trip per task
            # (a third of a cluster extraction's time went on fetching chunks one by one).
            values = dict(zip((f.key for f in finished), client.gather(finished))) if finished else {}
            for fut in done:
                pending.discard(fut)
                i = index[fut.key]
                if fut.key in values:
                    accept(i, values.pop(fut.key))
                    continue
                if fut.status == "cancelled":
                    if stopping:
                        continue
                    raise gone(address, RuntimeError("the tasks were cancelled"), field)
                if fut.status == "error":
                    exc = fut.exception()
                    if client.status != "running":
                        raise gone(address, exc, field)
                    accept(i, exc)
                    continue
                accept(i, fut.result())
            if poll is not None:
                poll()
            if client.status not in ("running", "connecting"):
                raise gone(address, RuntimeError(f"connection {client.status}"), field)
            if not stopping and should_stop is not None and should_stop():
                stopping = True
                if on_stop is None:
                    client.cancel(list(pending))
                    return False
                on_stop(client)
                running = {k for keys in client.processing().values() for k in keys}
                queued = [f for f in pending if f.key not in running]
                client.cancel(queued)
                pending.difference_update(queued)
            if report is not None:
                report()
        return not stopping
    except ClusterError:
        raise
    except Exception as exc:
        if is_connection_error(exc) or client.status != "running":
            raise gone(address, exc, field) from None
        raise
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished and client.status == "running":
            with contextlib.suppress(Exception):
                client.cancel(unfinished)


def _token():
    return os.urandom(5).hex()
