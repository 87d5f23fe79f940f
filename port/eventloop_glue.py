# The glue of a context's asyncio loop: the Python half of
# port/eventloop.c, whose DESIGN comment explains it. py_port carries this
# file as a C string (cmake/EmbedText.cmake) and runs it in a namespace of
# its own when a context starts its loop; `Loop` is what it takes from it.
import asyncio, os, selectors, threading, time

class _Selector(selectors.DefaultSelector):
    """Lets go of the loop's lock only while the loop waits for events."""

    def __init__(self, lock):
        super().__init__()
        self._lock = lock
        self.waited = threading.Event()  # set at the loop's first wait
        self.until = 0.0  # when the loop's wait ends at the latest

    def select(self, timeout=None):
        self.until = float('inf') if timeout is None else time.monotonic() + timeout
        self._lock.release()
        if not self.waited.is_set():
            self.waited.set()
        try:
            return super().select(timeout)
        finally:
            self._lock.acquire()

class _EventLoop(asyncio.SelectorEventLoop):
    """A plain selector loop, whose new task's first step the context can take."""

    def __init__(self, selector):
        super().__init__(selector)
        self.taking = False  # the next call_soon is a new task's first step: keep it
        self.taken = None    # (fn, args) kept: the step is fn(*args)
        self.touched = False # the context's thread scheduled something

    def call_soon(self, callback, *args, context=None):
        if self.taking:
            self.taking = False
            if context is not None:  # the step runs in the task's context
                callback, args = context.run, (callback, *args)
            self.taken = (callback, args)
            return None
        if threading.get_ident() != self._thread_id:
            self.touched = True
        return super().call_soon(callback, *args, context=context)

    def call_at(self, when, callback, *args, context=None):
        if when < self._selector.until and threading.get_ident() != self._thread_id:
            self.touched = True  # sooner than the loop's wait ends
        return super().call_at(when, callback, *args, context=context)

class Loop:
    """One context's event loop on its own thread (port/eventloop.c)."""

    def __init__(self, c):
        self._done = c['done']          # answers and frees a job: (job, result, exc)
        self._answer = c['answer']      # the same by its ended task: (job, task)
        self._inbox = c['inbox']        # runs what was posted; (cancels, pokes) seqs
        self._answered = c['answered']  # whether a job was answered (cancelled) already
        self._bind = c['bind']          # makes the calling thread the loop's, for C
        self._take_credit = c['take_credit']  # a stream job's credit, one item's
        self._send = c['send']          # sends a stream job's item
        self.credits = {}          # seq -> asyncio.Event: a stream waits for credit
        self.jobs = {}             # seq -> job: submitted, not finished yet
        self.tasks = {}            # seq -> its task
        # Held by the loop's thread except while it waits for events.
        self.lock = threading.Lock()
        self.selector = _Selector(self.lock)
        self.loop = _EventLoop(self.selector)
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.loop.add_reader(self.rfd, self._wake)
        self.thread = threading.Thread(target=self._run, name='erlang_python asyncio')
        self.thread.start()
        self.selector.waited.wait(5.0)  # the first call's first step may run here

    def _run(self):
        self._bind()
        asyncio.set_event_loop(self.loop)
        self.lock.acquire()
        try:
            self.loop.run_forever()
        finally:
            self.lock.release()

    # On the context's thread, its first step run by submit() (C).
    def _keep(self, seq, job, task):
        """Tracks a task whose first step did not end it, before the loop may
        run it (and free job)."""
        self.jobs[seq] = job
        self._track(seq, job, task)
        if self._answered(job):  # cancelled during the step
            task.cancel()

    def _ensure(self, aw):  # a task of an awaitable that is not a coroutine
        return asyncio.ensure_future(aw, loop=self.loop)

    def _submit_to_loop(self, aw, seq, job):
        self.jobs[seq] = job
        try:
            self.loop.call_soon_threadsafe(self._start, aw, seq, job)
        except BaseException:
            del self.jobs[seq]
            raise

    def stop(self):
        """Cancels the tasks, ends the loop; returns the jobs left."""
        self.loop.call_soon_threadsafe(self.loop.create_task, self._drain())
        self.thread.join()
        self.loop.close()
        os.close(self.rfd)
        os.close(self.wfd)
        left, self.jobs = list(self.jobs.values()), {}
        return left

    # On the loop's thread.
    def _start(self, aw, seq, job):
        try:
            task = asyncio.ensure_future(aw, loop=self.loop)
        except BaseException as exc:
            del self.jobs[seq]
            self._done(job, None, exc)
            return
        self._track(seq, job, task)
        if self._answered(job):  # cancelled before it started
            task.cancel()

    def _track(self, seq, job, task):  # either thread: job is answered as task ends
        self.tasks[seq] = task
        task.add_done_callback(lambda t: self._finish(seq, job, t))

    def _finish(self, seq, job, task):
        self.tasks.pop(seq, None)
        if self.jobs.pop(seq, None) is not None:
            self._answer(job, task)

    def _wake(self):
        try:
            os.read(self.rfd, 4096)
        except BlockingIOError:
            pass
        cancels, pokes = self._inbox()
        for seq in cancels:
            task = self.tasks.get(seq)
            if task is not None:
                task.cancel()
        for seq in pokes:
            credit = self.credits.get(seq)
            if credit is not None:
                credit.set()

    # Coroutines of stream requests, made on the context's thread.
    async def collect(self, it):
        return [item async for item in it]

    async def stream(self, it, seq, job):
        credit = self.credits[seq] = asyncio.Event()
        try:
            async for item in it:
                while not self._take_credit(job):
                    credit.clear()
                    await credit.wait()
                self._send(job, item)
        finally:
            del self.credits[seq]
            aclose = getattr(it, 'aclose', None)
            if aclose is not None:
                await aclose()

    async def _drain(self):
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        try:
            await asyncio.wait_for(self.loop.shutdown_default_executor(), 1.0)
        except Exception:
            pass
        self.loop.stop()
