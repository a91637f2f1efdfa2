"""Run a task's runs, one worker per GPU entry, each in its own ``gan.run`` process.

:func:`gan.tasks.load_task` expands a task folder's ``config.py`` into :class:`~gan.tasks.Run`
objects; :class:`Scheduler` runs them, each in its own ``python -m gan.run --run_dir <folder>``
process that reads ``<folder>/config.json``. A folder holding ``COMPLETED`` is done; any other
folder is resumed by launching its run again (the run process restores its own checkpoint).
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

from gan.config import REPO_ROOT, ConfigError, with_defaults_of_new_keys
from gan.preflight import check_runs
from gan.progress import ConsoleProgress
from gan.run_folder import (
    COMPLETED_FILE,
    CONFIG_FILE,
    EXIT_BAD_INPUT,
    EXIT_CRASHED,
    EXIT_INTERRUPTED,
    LOCK_FILE,
    METRICS_FILE,
    PROPOSED_CONFIG_FILE,
    RunStatus,
    clear_run,
    owned_entries,
    remove_path,
    take_lock,
    write_json_atomic,
)
from gan.tasks import Run, Task, distinct_runs
from gan.unreported_endings import Unwritable, record_crash, record_unreported_end

DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "gan.run")


def _now() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


class Scheduler:
    """Run a task's runs: one worker thread per ``gpu`` entry pulling from a shared queue.

    Each run is launched as ``command + ["--run_dir", run_dir]`` (default
    ``python -m gan.run``) with the repository root as working directory and
    ``CUDA_VISIBLE_DEVICES`` set to the worker's entry. Runs whose folder holds ``COMPLETED``
    are skipped unless ``force_rerun``; other existing folders are resumed. A run folder is
    claimed with an exclusive ``flock`` on ``<run_dir>/.lock``, so concurrent schedulers on the
    same task never run one run twice. SIGINT/SIGTERM are forwarded to the running processes,
    which checkpoint and exit; no new run is started after that.
    """

    def __init__(
        self,
        task: Task,
        runs: Sequence[Run] | None = None,
        *,
        force_rerun: bool | None = None,
        command: Sequence[str] | None = None,
        handle_signals: bool = True,
        console: TextIO | None = None,
        preflight: bool | None = None,
    ) -> None:
        self.task = task
        # The pre-flight checks test what ``gan.run`` needs; another command may need other.
        self.preflight = command is None if preflight is None else bool(preflight)
        self.runs = distinct_runs(task.runs if runs is None else runs)
        self.force_rerun = task.force_rerun if force_rerun is None else bool(force_rerun)
        self.command = list(DEFAULT_COMMAND if command is None else command)
        self.handle_signals = handle_signals
        self.console = sys.stdout if console is None else console
        self.counts = {
            "done": 0,
            "running": 0,
            "pending": 0,
            "failed": 0,
            "interrupted": 0,
            "elsewhere": 0,
        }
        self._bad_input = 0  # failed runs that exited with 2 (bad input)
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._running: set[str] = set()  # the run folders counted in counts["running"]
        self._stop = threading.Event()
        self._signals: list[int] = []
        self._forwarded = 0
        self._log_file: TextIO | None = None
        self._names = {run.run_dir: run.name for run in self.runs}
        self.run_progress = ConsoleProgress(self.console, prefix=f"[{task.name}] ")

    # logging -------------------------------------------------------------------------------

    def _log(self, message: str, level: str = "INFO") -> None:
        line = f"{_now()} {level} {message}\n"
        with self._lock:
            if self._log_file is not None:
                self._log_file.write(line)
                self._log_file.flush()
            self.run_progress.clear()
            self.console.write(line)
            self.console.flush()

    def _event(self, message: str, level: str = "INFO", **changes: int) -> None:
        with self._lock:
            for key, delta in changes.items():
                self.counts[key] += delta
        self._log(message, level)
        self._progress()

    def _progress(self) -> None:
        with self._lock:
            c = dict(self.counts)
        extra = "".join(f", {k} {c[k]}" for k in ("interrupted", "elsewhere") if c[k])
        line = (
            f"[{self.task.name}] progress: done {c['done']}, running {c['running']}, "
            f"pending {c['pending']}, failed {c['failed']}{extra} (of {len(self.runs)})\n"
        )
        with self._lock:
            self.run_progress.clear()
            self.console.write(line)
            self.console.flush()

    def _show_run_progress(self) -> None:
        """Show the running runs' iteration, speed, ETA and losses (from their status.json)."""
        with self._lock:
            running = {self._names.get(d, os.path.basename(d)): d for d in self._procs}
            self.run_progress.poll(running)

    # main loop -----------------------------------------------------------------------------

    def start(self) -> int:
        """Run every run; return 0 when all finished (or ran elsewhere), 1 when any crashed,
        2 when every failed run failed on bad input, 75 when some were interrupted (none
        failed), 128+signal when stopped by a signal.

        Before anything is created, the pre-flight checks (``gan.preflight``) run; they and an
        unwritable results root raise ConfigError (one line naming what is wrong).
        """
        if self.preflight:
            check_runs(self.runs)
        log_path = self.task.scheduler_log_path
        try:
            os.makedirs(self.task.results_root, exist_ok=True)
            if log_path is not None:
                os.makedirs(os.path.dirname(log_path), exist_ok=True)
                self._log_file = open(log_path, "a")
            if not os.access(self.task.results_root, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "not writable", self.task.results_root)
        except OSError as exc:
            raise ConfigError(
                f"results root {self.task.results_root}: cannot write there "
                f"({exc.strerror or exc}); choose another with --results_dir or "
                "result_root_folder"
            ) from None
        jobs: queue.Queue[Run] = queue.Queue()
        for run in self.runs:
            jobs.put(run)
        self.counts["pending"] = len(self.runs)
        old_handlers = self._install_signal_handlers()
        try:
            self._log(
                f"scheduler starts task {self.task.name}: {len(self.runs)} runs, "
                f"{len(self.task.gpus)} workers {self.task.gpus}, results in "
                f"{self.task.results_root}" + (", force_rerun" if self.force_rerun else "")
            )
            workers = [
                threading.Thread(
                    target=self._worker, args=(gpu, jobs), name=f"gpu{gpu}", daemon=True
                )
                for gpu in self.task.gpus
            ]
            for worker in workers:
                worker.start()
            while any(w.is_alive() for w in workers):
                self._forward_signals()
                self._show_run_progress()
                for worker in workers:
                    worker.join(timeout=0.05)
            self._forward_signals()
        finally:
            self._restore_signal_handlers(old_handlers)
            with self._lock:
                self.run_progress.clear()
            c = self.counts
            self._log(
                f"scheduler ends task {self.task.name}: done {c['done']}, failed "
                f"{c['failed']}, interrupted {c['interrupted']}, running elsewhere "
                f"{c['elsewhere']}, not started {c['pending']}"
            )
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
        if self.counts["failed"]:
            return EXIT_BAD_INPUT if self._bad_input == self.counts["failed"] else EXIT_CRASHED
        if self._signals:
            return 128 + self._signals[0]
        if self.counts["interrupted"]:
            return EXIT_INTERRUPTED
        return 0

    def _worker(self, gpu: str, jobs: queue.Queue[Run]) -> None:
        name = f"gpu{gpu}"
        while not self._stop.is_set():
            try:
                run = jobs.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                self.counts["pending"] -= 1
            self._log(f"{name} receives {self._label(run)}")
            try:
                self._process(name, gpu, run)
            except Exception as exc:  # keep the other runs going; report this one as failed
                why = f"{type(exc).__name__}: {exc}"
                with self._lock:  # counted once: as failed, no longer as running
                    running = -1 if run.run_dir in self._running else 0
                    self._running.discard(run.run_dir)
                try:
                    self._record_crash(run, f"scheduler: {why}")
                except Exception as record_exc:
                    self._log(f"could not record {self._label(run)}'s crash: {record_exc}")
                self._event(
                    f"{name} crashed on {self._label(run)} in the scheduler: {why}",
                    "ERROR",
                    failed=1,
                    running=running,
                )
        self._log(f"{name} finished")

    def _process(self, name: str, gpu: str, run: Run) -> None:
        os.makedirs(run.run_dir, exist_ok=True)
        fd = take_lock(run.run_dir)
        if fd is None:
            self._event(f"{name} finds {self._label(run)} running elsewhere, skipped", elsewhere=1)
            return
        try:
            completed = os.path.exists(os.path.join(run.run_dir, COMPLETED_FILE))
            if completed and not self.force_rerun:
                self._event(f"{name} skips {self._label(run)} (completed)", done=1)
                return
            if self._stop.is_set():
                with self._lock:
                    self.counts["pending"] += 1
                return
            # What the run wrote, not what shares its folder (a task without test_config runs
            # in the results root, next to the scheduler log).
            resumed = bool(owned_entries(run.run_dir, self.task.scheduler_config["log_file"]))
            if completed:  # force_rerun: only a completed run starts over
                self._clear_for_rerun(name, run)
                resumed = False
            proposed = self._write_config(name, run)
            try:
                self._launch(name, gpu, run, fd, resumed)
            finally:
                if proposed:  # not adopted: a refused resume leaves config.json as it was
                    remove_path(os.path.join(run.run_dir, PROPOSED_CONFIG_FILE))
        finally:
            os.close(fd)

    def _label(self, run: Run) -> str:
        """How the log names ``run``: its name, or for the one run of a task without
        test_config (whose name is empty) the results root it runs in."""
        return run.name or f"the run in the results root {os.path.normpath(run.run_dir)}"

    def _clear_for_rerun(self, name: str, run: Run) -> None:
        """Delete what the completed ``run`` wrote (``gan.run_folder.clear_run``), nothing else.

        A task without test_config has its one run in the results root itself, next to the
        scheduler log, the report and whatever the user keeps there: all of that stays. In a
        run's own folder, entries the run did not write are moved (not deleted) to the sibling
        folder ``<run folder>.kept-<time>`` so the rerun starts from a clean folder.
        """
        deleted = clear_run(run.run_dir, self.task.scheduler_config["log_file"])
        foreign = [n for n in sorted(os.listdir(run.run_dir)) if n != LOCK_FILE]
        moved = ""
        if foreign and (os.path.normpath(run.run_dir) != os.path.normpath(self.task.results_root)):
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            kept = f"{os.path.normpath(run.run_dir)}.kept-{stamp}"
            os.makedirs(kept, exist_ok=True)
            for entry in foreign:
                os.replace(os.path.join(run.run_dir, entry), os.path.join(kept, entry))
            moved = f"; moved {len(foreign)} entries it did not write to {kept}"
        self._log(
            f"{name}: force_rerun of {self._label(run)}: deleted {len(deleted)} entries the "
            f"run wrote{moved}"
        )

    def _write_config(self, name: str, run: Run) -> bool:
        """Write the run's config for the run process; True when it went to
        ``config.proposed.json``.

        A new run (or one whose ``config.json`` does not read) gets ``config.json``. A started
        run whose config changed keeps its ``config.json``: the new config is proposed beside
        it, and the run process adopts it only when the checkpoint and ``metrics.csv`` accept
        it, so a refused resume changes no file of the run. A key the run's ``config.json``
        lacks (added to the code since) at its default is no change.
        """
        path = os.path.join(run.run_dir, CONFIG_FILE)
        proposal = os.path.join(run.run_dir, PROPOSED_CONFIG_FILE)
        new = json.loads(json.dumps(run.config.to_dict()))
        try:
            with open(path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict):
            remove_path(proposal)
            write_json_atomic(path, run.config.to_dict())
            return False
        old = with_defaults_of_new_keys(old, new)  # a run folder of an earlier release
        if old == new:
            remove_path(proposal)
            return False
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        self._log(
            f"{name}: config of {self._label(run)} changed since its last start "
            f"({', '.join(changed)}); it resumes with the new config if its checkpoint and "
            f"{METRICS_FILE} fit it ({CONFIG_FILE} is replaced only then)",
            "WARNING",
        )
        write_json_atomic(proposal, run.config.to_dict())
        return True

    def _launch(self, name: str, gpu: str, run: Run, lock_fd: int, resumed: bool) -> None:
        cmd = self.command + ["--run_dir", run.run_dir]
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpu, PYTHONUNBUFFERED="1")
        log_name = self.task.scheduler_config["log_file"]
        log = open(os.path.join(run.run_dir, log_name), "ab") if log_name is not None else None
        try:
            with self._lock:
                if self._stop.is_set():
                    self.counts["pending"] += 1
                    return
                if log is not None:
                    what = "resumes" if resumed else "starts"
                    gap = "\n" if log.seek(0, os.SEEK_END) else ""
                    log.write(
                        f"{gap}===== {_now()} scheduler {what} this run on "
                        f"CUDA_VISIBLE_DEVICES={gpu!r} (host {socket.gethostname()}, "
                        f"scheduler pid {os.getpid()}) =====\n".encode()
                    )
                    log.flush()
                # A new session: a terminal's Ctrl-C reaches only the scheduler, which forwards
                # it once. The run inherits the lock fd, so the claim outlives a killed scheduler.
                proc = subprocess.Popen(
                    cmd,
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log if log is not None else subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=(lock_fd,),
                )
                self._procs[run.run_dir] = proc
            with self._lock:
                self._running.add(run.run_dir)
            self._event(
                f"{name} {'resumes' if resumed else 'starts'} {self._label(run)} (pid {proc.pid})",
                running=1,
            )
            code = proc.wait()
            with self._lock:
                del self._procs[run.run_dir]
        finally:
            if log is not None:
                log.close()
        status = self._record_unreported_end(run, code)
        done = os.path.exists(os.path.join(run.run_dir, COMPLETED_FILE))
        if code == 0 and done:
            self._end(run, f"{name} finishes {self._label(run)}", done=1)
        elif code == EXIT_INTERRUPTED or (code < 0 and self._stop.is_set()):
            how = "" if code == EXIT_INTERRUPTED else f" (killed by signal {-code})"
            self._end(
                run,
                f"{name} interrupted {self._label(run)}{how}; it resumes on the next start",
                "WARNING",
                interrupted=1,
            )
        else:
            why = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
            if code == 0:
                why += f" without writing {COMPLETED_FILE}"
            see = f"see {os.path.join(run.run_dir, log_name or '')}"
            if code == EXIT_BAD_INPUT:
                error = status.error if status is not None and status.error else None
                with self._lock:
                    self._bad_input += 1
                self._end(
                    run,
                    f"{name} failed on {self._label(run)} (exit code {code}): "
                    f"error: {error or 'bad input'} ({see})",
                    "ERROR",
                    failed=1,
                )
                return
            self._end(
                run, f"{name} crashed on {self._label(run)} with {why}; {see}", "ERROR", failed=1
            )

    def _end(self, run: Run, message: str, level: str = "INFO", **changes: int) -> None:
        """Log how ``run`` ended and count it so, no longer as running."""
        with self._lock:
            self._running.discard(run.run_dir)
        self._event(message, level, running=-1, **changes)

    def _record_unreported_end(self, run: Run, code: int) -> RunStatus | None:
        """Make ``run``'s status.json agree with its exit ``code`` (``gan.unreported_endings``)."""
        return record_unreported_end(
            run.run_dir, code, self._stop.is_set(), self._status_unwritable(run)
        )

    def _record_crash(self, run: Run, error: str) -> None:
        """Record in ``run``'s status.json that the scheduler failed on it."""
        record_crash(run.run_dir, error, self._status_unwritable(run))

    def _status_unwritable(self, run: Run) -> Unwritable:
        def warn(exc: OSError) -> None:
            self._log(f"could not write {self._label(run)}'s status: {exc}", "WARNING")

        return warn

    # signals -------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, Any]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, self._on_signal)
        return old

    @staticmethod
    def _restore_signal_handlers(old: dict[int, Any]) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Runs in the main thread between bytecodes: only record; the main loop forwards.
        self._signals.append(signum)
        self._stop.set()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Ask the scheduler to stop as if it had received ``signum`` (usable from any thread)."""
        self._on_signal(signum, None)

    def _forward_signals(self) -> None:
        while self._forwarded < len(self._signals):
            signum = self._signals[self._forwarded]
            self._forwarded += 1
            # The first two signals go to the runs as they are; a third kills them.
            sig = signum if self._forwarded <= 2 else signal.SIGKILL
            with self._lock:
                procs = list(self._procs.values())
            self._log(
                f"scheduler got {signal.Signals(signum).name}: "
                + (
                    f"sending {signal.Signals(sig).name} to {len(procs)} running runs, "
                    if procs
                    else ""
                )
                + "starting no new runs",
                "WARNING",
            )
            for proc in procs:
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass
