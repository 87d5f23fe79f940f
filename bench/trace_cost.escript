#!/usr/bin/env escript
%%! -noshell
%% What tracing costs (docs/reliability.md, "Replies, tracing and
%% sanitizers"): 20,000 sequential py:call and 20,000 from 8 callers, with
%% trace off and on, for each port binary given (default priv/py_port),
%% the configurations interleaved round by round in one node. The port's
%% stderr is this node's: send it to a file, e.g.
%%
%%   escript bench/trace_cost.escript 7 priv/py_port /tmp/py_port_old 2>/tmp/trace.log
%%
%% Prints medians: wall time per call and the port's CPU time per call
%% (utime + stime; contexts do not spin, context_spin_us 0).
main(Args) ->
    Root = filename:dirname(filename:dirname(filename:absname(escript:script_name()))),
    true = code:add_patha(filename:join([Root, "_build", "default", "lib", "erlang_python", "ebin"])),
    {Rounds, Exes} = case Args of
                         [] -> {5, [filename:join([Root, "priv", "py_port"])]};
                         [R] -> {list_to_integer(R), [filename:join([Root, "priv", "py_port"])]};
                         [R | Es] -> {list_to_integer(R), Es}
                     end,
    ok = application:load(erlang_python),
    Configs = [{E, T} || E <- Exes, T <- [false, true]],
    Results = [{C, run(E, T)} || _ <- lists:seq(1, Rounds), {E, T} = C <- Configs],
    [report(C, [R || {C1, R} <- Results, C1 =:= C]) || C <- Configs],
    halt(0).

run(Exe, Trace) ->
    ok = application:set_env(erlang_python, port_executable, Exe),
    ok = application:set_env(erlang_python, trace, Trace),
    ok = application:set_env(erlang_python, default_pool_size, 2),
    ok = application:set_env(erlang_python, context_spin_us, 0),
    {ok, _} = application:ensure_all_started(erlang_python),
    [{ok, 1} = py:call(builtins, len, [[x]]) || _ <- lists:seq(1, 2000)],
    N = 20000,
    {ok, OsPid} = py:eval(<<"__import__('os').getpid()">>),
    C0 = cpu_us(OsPid),
    T0 = erlang:monotonic_time(microsecond),
    [{ok, 1} = py:call(builtins, len, [[x]]) || _ <- lists:seq(1, N)],
    Seq = (erlang:monotonic_time(microsecond) - T0) / N,
    P = 8,
    Self = self(),
    T1 = erlang:monotonic_time(microsecond),
    [spawn_link(fun() -> [{ok, 1} = py:call(builtins, len, [[x]]) || _ <- lists:seq(1, N div P)],
                         Self ! done end) || _ <- lists:seq(1, P)],
    [receive done -> ok end || _ <- lists:seq(1, P)],
    Par = (erlang:monotonic_time(microsecond) - T1) / N,
    Cpu = (cpu_us(OsPid) - C0) / (2 * N),
    ok = application:stop(erlang_python),
    {Seq, Par, Cpu}.

cpu_us(OsPid) ->
    {ok, Stat} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat"),
    [_, AfterComm] = binary:split(Stat, <<") ">>),
    Fields = binary:split(AfterComm, <<" ">>, [global]),
    (binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields))) * 10000.

median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).

report({Port, Trace}, Rs) ->
    io:format("~ts trace=~p: sequential ~.1f us/call, 8 callers ~.1f us/call, port CPU ~.1f us/call "
              "(medians of ~b)~n",
              [Port, Trace, median([S || {S, _, _} <- Rs]), median([P || {_, P, _} <- Rs]),
               median([C || {_, _, C} <- Rs]), length(Rs)]).
