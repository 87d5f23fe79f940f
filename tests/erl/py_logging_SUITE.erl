%% @doc Python's logging records reach Erlang's logger (docs/api.md,
%% "Python logging"), and py:configure_logging/1 sets which do.
-module(py_logging_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([warning_reaches_logger/1,
         info_waits_for_configure_logging/1,
         exception_includes_traceback/1,
         levels_map_exactly/1,
         logger_levels_set_python_levels/1,
         bad_level_is_refused/1,
         record_logged_while_emitting_is_dropped/1,
         logging_is_imported_on_first_use/1,
         logging_imported_by_site_is_forwarded/1]).
-export([log/2]).

%% The module whose records the cases check, line by line.
-define(APPLOG, <<"import logging\n"
                  "log = logging.getLogger('app.db')\n"
                  "\n"
                  "def warn(n):\n"
                  "    log.warning('x %s', n)\n"
                  "\n"
                  "def at(level, msg):\n"
                  "    log.log(level, msg)\n">>).

all() ->
    [warning_reaches_logger, info_waits_for_configure_logging,
     exception_includes_traceback, levels_map_exactly,
     logger_levels_set_python_levels, bad_level_is_refused,
     record_logged_while_emitting_is_dropped, logging_is_imported_on_first_use,
     logging_imported_by_site_is_forwarded].

suite() ->
    [{timetrap, {seconds, 60}}].

init_per_suite(Config) ->
    _ = application:stop(erlang_python),
    Config1 = py_test_lib:start_app([], Config),
    Dir = filename:join(?config(priv_dir, Config), "pymod"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, "applog.py"), ?APPLOG),
    [{pymod, Dir} | Config1].

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

%% A handler that sends this process every event of a Python logger;
%% debug and info events must pass the primary level too.
init_per_testcase(_Case, Config) ->
    {ok, none} = py:call(sys, 'path.insert',
                         [0, unicode:characters_to_binary(?config(pymod, Config))]),
    #{level := Primary} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, all),
    ok = logger:add_handler(?MODULE, ?MODULE,
                            #{level => all, config => #{pid => self()},
                              filter_default => stop,
                              filters => [{python, {fun logger_filters:domain/2,
                                                    {log, equal, [python]}}}]}),
    [{primary_level, Primary} | Config].

end_per_testcase(_Case, Config) ->
    ok = py:configure_logging(#{level => warning}),
    ok = logger:remove_handler(?MODULE),
    ok = logger:set_primary_config(level, ?config(primary_level, Config)).

%% logger handler callback: records only (output lines have no
%% python_logger).
log(#{level := Level, msg := {Format, Args}, meta := #{python_logger := _} = Meta},
    #{config := #{pid := Pid}}) ->
    Pid ! {record, Level, unicode:characters_to_binary(io_lib:format(Format, Args)),
           maps:with([domain, python_logger, python_module, python_line], Meta)};
log(_Event, _Config) ->
    ok.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc A warning arrives as a warning, with its message, logger, module
%% and line.
warning_reaches_logger(_Config) ->
    {ok, none} = py:call(applog, warn, [1]),
    {warning, <<"x 1">>, #{domain := [python], python_logger := <<"app.db">>,
                           python_module := <<"applog">>, python_line := 5}} = next().

%% @doc Below warning nothing is forwarded until configure_logging/1
%% lowers the root logger's level.
info_waits_for_configure_logging(_Config) ->
    {ok, none} = py:call(applog, at, [20, <<"dropped">>]),
    {ok, none} = py:call(applog, at, [30, <<"marker">>]),
    {warning, <<"marker">>, _} = next(),
    ok = py:configure_logging(#{level => info}),
    {ok, none} = py:call(applog, at, [20, <<"kept">>]),
    {info, <<"kept">>, #{python_logger := <<"app.db">>, python_line := 8}} = next().

%% @doc logger.exception(): an error whose message ends with the
%% traceback.
exception_includes_traceback(_Config) ->
    ok = py:exec(<<"import logging\n"
                   "try:\n"
                   "    1 / 0\n"
                   "except ZeroDivisionError:\n"
                   "    logging.getLogger('app').exception('failed %d', 7)\n">>),
    {error, Message, #{python_logger := <<"app">>, python_module := <<"<exec>">>,
                       python_line := 5}} = next(),
    <<"failed 7\nTraceback (most recent call last):\n", Rest/binary>> = Message,
    true = py_test_lib:contains(Rest, <<"line 3, in <module>">>),
    Last = <<"ZeroDivisionError: division by zero">>,
    Last = binary:part(Rest, byte_size(Rest), -byte_size(Last)).

%% @doc Each Python level number maps to one logger level.
levels_map_exactly(_Config) ->
    ok = py:configure_logging(#{level => 1}),
    Levels = [50, 51, 45, 40, 39, 30, 25, 20, 19, 10, 5, 1],
    [{ok, none} = py:call(applog, at, [N, integer_to_binary(N)]) || N <- Levels],
    [{critical, <<"50">>}, {critical, <<"51">>}, {error, <<"45">>}, {error, <<"40">>},
     {warning, <<"39">>}, {warning, <<"30">>}, {info, <<"25">>}, {info, <<"20">>},
     {debug, <<"19">>}, {debug, <<"10">>}, {debug, <<"5">>}, {debug, <<"1">>}] =
        [begin {L, M, _} = next(), {L, M} end || _ <- Levels].

%% @doc Logger levels set these Python levels on the root logger.
logger_levels_set_python_levels(_Config) ->
    Expected = [{debug, 10}, {info, 20}, {notice, 25}, {warning, 30}, {error, 40},
                {critical, 50}, {alert, 50}, {emergency, 50}, {0, 0}, {35, 35}],
    Expected = [begin
                    ok = py:configure_logging(#{level => L}),
                    {ok, N} = py:eval(<<"__import__('logging').getLogger().level">>),
                    {L, N}
                end || {L, _} <- Expected].

%% @doc A level that is neither a logger level nor a level number is
%% refused, and the root logger's level stays.
bad_level_is_refused(_Config) ->
    [{error, {badarg, level}} = py:configure_logging(Bad)
     || Bad <- [#{level => loud}, #{level => -1}, #{level => 1.5}, #{level => 1 bsl 40},
                #{}, #{lvl => info}, info]],
    {ok, 30} = py:eval(<<"__import__('logging').getLogger().level">>).

%% @doc A record logged while the handler formats another (a __str__ that
%% logs) is dropped: the outer record arrives, once, and nothing loops.
record_logged_while_emitting_is_dropped(_Config) ->
    ok = py:exec(<<"import logging\n"
                   "class Loud:\n"
                   "    def __str__(self):\n"
                   "        logging.getLogger('inner').warning('inner')\n"
                   "        return 'outer'\n"
                   "logging.getLogger('app').warning('%s', Loud())\n"
                   "logging.getLogger('app').warning('marker')\n">>),
    {warning, <<"outer">>, #{python_logger := <<"app">>}} = next(),
    {warning, <<"marker">>, _} = next().

%% @doc A fresh port has not imported logging (start-up does not pay for
%% it); its first import adds the handler.
logging_is_imported_on_first_use(Config) ->
    ok = py_test_lib:restart_app(Config),
    {ok, false} = py:eval(<<"'logging' in __import__('sys').modules">>),
    ok = py:exec(<<"import logging\nlogging.getLogger('first').error('e')">>),
    {error, <<"e">>, #{python_logger := <<"first">>, python_module := <<"<exec>">>,
                       python_line := 2}} = next(),
    {ok, 1} = py:eval(<<"len(__import__('logging').getLogger().handlers)">>).

%% @doc When site imports logging (a sitecustomize), the handler is added
%% at start-up all the same.
logging_imported_by_site_is_forwarded(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "site"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, "sitecustomize.py"), <<"import logging\n">>),
    Config1 = lists:keydelete(app_env, 1, Config),
    try
        ok = py_test_lib:stop_app(Config),
        Started = py_test_lib:start_app([{python_path, [Dir]}], Config1),
        {ok, true} = py:eval(<<"'logging' in __import__('sys').modules">>),
        ok = py:exec(<<"import logging\nlogging.getLogger('site').warning('w')">>),
        {warning, <<"w">>, #{python_logger := <<"site">>}} = next(),
        ok = py_test_lib:stop_app(Started)
    after
        _ = py_test_lib:start_app([], Config1)
    end.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

next() ->
    receive {record, Level, Message, Meta} -> {Level, Message, Meta}
    after 5000 -> ct:fail(no_record)
    end.
