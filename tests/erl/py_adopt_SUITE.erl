%% @doc What a new user meets first (issue 16): Python's output in a node
%% with the default logger configuration, the common Python types, the
%% atom that stands for None, the functions erlang_python users reach
%% for, and the packaging of the application.
-module(py_adopt_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([output_shows_in_a_plain_node/1,
         output_filter_added_once_and_removed_at_stop/1,
         output_filter_can_be_turned_off/1]).

all() ->
    [output_shows_in_a_plain_node, output_filter_added_once_and_removed_at_stop,
     output_filter_can_be_turned_off].

suite() ->
    [{timetrap, {seconds, 120}}].

init_per_suite(Config) ->
    _ = application:stop(erlang_python),
    py_test_lib:start_app([], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

%%% ==========================================================================
%%% Output
%%% ==========================================================================

%% @doc A plain `erl' node, logger untouched: print(), sys.stderr and a
%% logging warning all show on the node's standard output, with levels.
output_shows_in_a_plain_node(_Config) ->
    Code = <<"import sys, logging\n"
             "print('adopt-stdout-line')\n"
             "print('adopt-stderr-line', file=sys.stderr)\n"
             "logging.getLogger('adopt').warning('adopt-warning-%d', 7)\n">>,
    Out = plain_node_output(Code, [<<"adopt-stdout-line">>, <<"adopt-stderr-line">>,
                                   <<"adopt-warning-7">>]),
    %% The default formatter: "=NOTICE REPORT====" headers and the text.
    true = py_test_lib:contains(Out, <<"=NOTICE REPORT====">>),
    true = py_test_lib:contains(Out, <<"=WARNING REPORT====">>).

%% @doc The start adds the `python' filter to the default handler once
%% (a restart does not add a second), and the stop takes it away; a
%% `python' filter of the user's own is left alone.
output_filter_added_once_and_removed_at_stop(Config) ->
    Filter = {fun logger_filters:domain/2, {log, super, [python]}},
    {ok, #{filters := Filters}} = logger:get_handler_config(default),
    {python, Filter} = lists:keyfind(python, 1, Filters),
    ok = application:stop(erlang_python),
    {ok, #{filters := Stopped}} = logger:get_handler_config(default),
    false = lists:keyfind(python, 1, Stopped),
    Own = {fun logger_filters:domain/2, {log, equal, [python]}},
    ok = logger:add_handler_filter(default, python, Own),
    try
        ok = py_test_lib:restart_app(Config),
        ok = application:stop(erlang_python),
        {ok, #{filters := Kept}} = logger:get_handler_config(default),
        [{python, Own}] = [F || {python, _} = F <- Kept]
    after
        _ = logger:remove_handler_filter(default, python),
        ok = py_test_lib:restart_app(Config)
    end.

%% @doc log_to_default_handler = false: the default handler is not
%% touched.
output_filter_can_be_turned_off(Config) ->
    ok = application:stop(erlang_python),
    Started = py_test_lib:start_app([{log_to_default_handler, false}], Config),
    try
        {ok, #{filters := Filters}} = logger:get_handler_config(default),
        false = lists:keyfind(python, 1, Filters),
        {ok, 2} = py:eval(<<"1 + 1">>)
    after
        ok = py_test_lib:stop_app(Started),
        ok = py_test_lib:restart_app(Config)
    end.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% Runs Code in a new `erl -noshell' node with the application started
%% and logger as OTP configures it, and returns what the node wrote once
%% every one of Wanted is in it (at most 30 s; the node is killed then).
plain_node_output(Code, Wanted) ->
    Ebin = filename:dirname(code:which(py)),
    Exe = [["-erlang_python", "port_executable", io_lib:format("~p", [binary_to_list(iolist_to_binary(X))])]
           || {ok, X} <- [application:get_env(erlang_python, port_executable)]],
    Eval = io_lib:format("{ok, _} = application:ensure_all_started(erlang_python), "
                         "ok = py:exec(~p), receive after infinity -> ok end.", [Code]),
    Args = ["30", os:find_executable("erl"), "-noshell", "-pa", Ebin | lists:append(Exe)]
        ++ ["-eval", lists:flatten(Eval)],
    Port = open_port({spawn_executable, os:find_executable("timeout")},
                     [{args, Args}, binary, stderr_to_stdout, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    try
        collect(Port, Wanted, <<>>)
    after
        _ = os:cmd("kill " ++ integer_to_list(OsPid)),
        catch port_close(Port)
    end.

collect(Port, Wanted, Acc) ->
    case [W || W <- Wanted, not py_test_lib:contains(Acc, W)] of
        [] ->
            Acc;
        Missing ->
            receive
                {Port, {data, Data}} -> collect(Port, Wanted, <<Acc/binary, Data/binary>>);
                {Port, {exit_status, N}} -> ct:fail({node_exited, N, Missing, Acc})
            after 30000 ->
                ct:fail({missing, Missing, Acc})
            end
    end.
