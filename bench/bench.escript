#!/usr/bin/env escript
%% `make bench': compiles bench/py_bench.erl and runs it against the
%% application built in _build/default (docs/performance.md).
%%
%%   escript bench/bench.escript [--profile full|quick] [--echo-port Path]
%%                               [--out Dir] [--doc-png Path] [--no-plot]
%%                               [--port-executable Path] [--cases Case,...]
main(Args) ->
    Bench = filename:dirname(filename:absname(escript:script_name())),
    Root = filename:dirname(Bench),
    Ebin = filename:join([Root, "_build", "default", "lib", "erlang_python", "ebin"]),
    case code:add_patha(Ebin) of
        true ->
            Src = filename:join(Bench, "py_bench.erl"),
            {ok, py_bench, Bin} = compile:file(Src, [binary, report, warnings_as_errors]),
            {module, py_bench} = code:load_binary(py_bench, Src, Bin),
            halt(py_bench:main(Root, Args));
        {error, _} ->
            io:format(standard_error, "~ts is missing: run `make compile` first~n", [Ebin]),
            halt(1)
    end.
