%% Common Test suite of Python environments (docs/environments.md): the
%% `venv' app env and a process pool's own venv, the `preload' app env and
%% pool option, and what py:version/0 and py:venv_info/0 say about the
%% Python in use. The venvs are made here with the Python py_port was
%% built against (`python3 -m venv --without-pip'), each with packages the
%% case writes into it.
-module(py_env_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("kernel/include/file.hrl").

%% Common Test callbacks
-export([all/0]).
-export([suite/0]).
-export([init_per_suite/1]).
-export([end_per_suite/1]).
-export([init_per_testcase/2]).
-export([end_per_testcase/2]).

%% cases
-export([venv_prefix_site_packages_and_pth/1]).
-export([venv_include_system_site_packages/1]).
-export([venv_of_another_version_is_refused/1]).
-export([venv_without_pyvenv_cfg_is_bad_env/1]).
-export([venv_ignores_pythonhome/1]).
-export([pythonhome_failure_says_so/1]).
-export([version_names_libpython_and_stdlib/1]).
-export([extension_modules_find_the_c_api/1]).
-export([venv_info_without_venv/1]).
-export([preload_runs_before_first_request_and_after_restart/1]).
-export([preload_from_file/1]).
-export([preload_pool_option_every_context/1]).
-export([preload_that_raises_leaves_no_pool/1]).
-export([preload_that_raises_fails_the_app_start/1]).
-export([bad_pool_options/1]).
-export([preload_that_never_ends_times_out/1]).
-export([preload_owngil_each_interpreter/1]).
-export([process_pools_with_two_venvs/1]).
-export([process_pool_preload_after_member_restart/1]).
-export([build_follows_a_change_of_python/1]).
-export([release_runs_python/1]).

-define(APP, erlang_python).

%%% ==========================================================================
%%% Common Test callbacks
%%% ==========================================================================

all() ->
    [venv_prefix_site_packages_and_pth, venv_include_system_site_packages,
     venv_of_another_version_is_refused, venv_without_pyvenv_cfg_is_bad_env,
     venv_ignores_pythonhome, pythonhome_failure_says_so,
     version_names_libpython_and_stdlib, extension_modules_find_the_c_api,
     venv_info_without_venv,
     preload_runs_before_first_request_and_after_restart, preload_from_file,
     preload_pool_option_every_context, preload_owngil_each_interpreter,
     preload_that_raises_leaves_no_pool,
     preload_that_raises_fails_the_app_start, preload_that_never_ends_times_out,
     bad_pool_options,
     process_pools_with_two_venvs, process_pool_preload_after_member_restart,
     build_follows_a_change_of_python, release_runs_python].

suite() ->
    [{timetrap, {seconds, 120}}].

%% The Python py_port runs, its base site-packages, and a module found
%% there (the venv shadows it).
init_per_suite(Config) ->
    _ = application:stop(?APP),
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    {ok, Exe} = py:eval(<<"__import__('sys').executable">>),
    {ok, Sys} = py:eval(<<"[d for d in __import__('site').getsitepackages()"
                          " if __import__('os').path.isdir(d)]">>),
    {ok, #{python := Version}} = py:version(),
    ok = py_test_lib:stop_app(Started),
    [{python, binary_to_list(Exe)}, {system_site, Sys}, {python_version, Version},
     {system_module, system_module(Sys)} | Config].

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    Config.

%% Every case leaves the application stopped and its env unset.
end_per_testcase(_Case, _Config) ->
    _ = application:stop(?APP),
    [application:unset_env(?APP, K) || K <- [venv, preload, port_env, default_pool_size,
                                             default_pool_mode, start_timeout]],
    ok.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc With the app env venv, sys.prefix is the venv, its site-packages
%% and .pth files are used, its module shadows the system's one of the
%% same name, the base site-packages are not visible; py:venv_info/0 says so.
venv_prefix_site_packages_and_pth(Config) ->
    {Venv, Site} = make_venv(Config, "v1"),
    Mod = ?config(system_module, Config),
    Edit = editable(Config, Site),
    ok = file:write_file(filename:join(Site, "envmod.py"), <<"WHERE = 'venv'\n">>),
    ok = file:write_file(filename:join(Site, Mod ++ ".py"), <<"SHADOW = 'venv'\n">>),
    Started = py_test_lib:start_app([{venv, Venv}, {default_pool_size, 1}], Config),
    VenvB = list_to_binary(Venv),
    {ok, VenvB} = py:eval(<<"__import__('sys').prefix">>),
    {ok, false} = py:eval(<<"__import__('sys').base_prefix == __import__('sys').prefix">>),
    {ok, <<"venv">>} = py:eval(<<"__import__('envmod').WHERE">>),
    {ok, <<"editable">>} = py:eval(<<"__import__('editmod').WHERE">>),
    {ok, true} = py:eval(<<"d in __import__('sys').path">>, #{d => list_to_binary(Edit)}),
    {ok, <<"venv">>} = py:eval(<<"__import__(m).SHADOW">>, #{m => list_to_binary(Mod)}),
    %% The base installation's site-packages are not on sys.path.
    {ok, []} = py:eval(<<"[d for d in s if d in __import__('sys').path]">>,
                       #{s => ?config(system_site, Config)}),
    {ok, #{venv := VenvB, prefix := VenvB, base_prefix := Base, site_packages := Sites}} =
        py:venv_info(),
    true = Base =/= VenvB,
    SiteB = list_to_binary(Site),
    [SiteB] = Sites,
    ok = py_test_lib:stop_app(Started).

%% @doc include-system-site-packages = true: the base site-packages are on
%% sys.path after the venv's, whose module still shadows the system's.
venv_include_system_site_packages(Config) ->
    {Venv, Site} = make_venv(Config, "v2"),
    Mod = ?config(system_module, Config),
    ok = file:write_file(filename:join(Site, Mod ++ ".py"), <<"SHADOW = 'venv'\n">>),
    Cfg = filename:join(Venv, "pyvenv.cfg"),
    {ok, Text} = file:read_file(Cfg),
    ok = file:write_file(Cfg, re:replace(Text, "include-system-site-packages = false",
                                         "include-system-site-packages = true")),
    Started = py_test_lib:start_app([{venv, Venv}, {default_pool_size, 1}], Config),
    {ok, <<"venv">>} = py:eval(<<"__import__(m).SHADOW">>, #{m => list_to_binary(Mod)}),
    [First | _] = ?config(system_site, Config),
    {ok, true} = py:eval(<<"d in __import__('sys').path">>, #{d => First}),
    {ok, #{site_packages := [SiteB | Rest]}} = py:venv_info(),
    SiteB = list_to_binary(Site),
    true = lists:member(First, Rest),
    ok = py_test_lib:stop_app(Started).

%% @doc A venv whose pyvenv.cfg names another minor version fails the
%% application's start with an error naming both versions, and leaves
%% neither the application nor a py_port running.
venv_of_another_version_is_refused(Config) ->
    {Venv, _Site} = make_venv(Config, "v3"),
    Other = other_version(?config(python_version, Config)),
    Cfg = filename:join(Venv, "pyvenv.cfg"),
    {ok, Text} = file:read_file(Cfg),
    ok = file:write_file(Cfg, re:replace(Text, "(?m)^version = .*$", "version = " ++ Other)),
    ok = application:set_env(?APP, venv, Venv),
    {error, Reason} = application:start(?APP),
    Msg = find_binary(Reason),
    true = py_test_lib:contains(Msg, list_to_binary(Other)),
    true = py_test_lib:contains(Msg, ?config(python_version, Config)),
    true = py_test_lib:contains(Msg, list_to_binary(Venv)),
    undefined = whereis(erlang_python_sup),
    ok = py_test_lib:wait_until(fun() -> os:cmd("pgrep -f -- '--venv " ++ Venv ++ "'") =:= "" end,
                                5000).

%% @doc A venv directory without pyvenv.cfg is a bad_env.
venv_without_pyvenv_cfg_is_bad_env(Config) ->
    Dir = ?config(priv_dir, Config),
    ok = application:set_env(?APP, venv, Dir),
    {error, {{bad_env, venv, Dir, _}, _}} = application:start(?APP),
    undefined = whereis(erlang_python_sup).

%% @doc PYTHONHOME in port_env with a venv (named by a binary): ignored,
%% the venv starts (it would keep CPython from reading pyvenv.cfg).
venv_ignores_pythonhome(Config) ->
    {Venv, _Site} = make_venv(Config, "v4"),
    Started = py_test_lib:start_app([{venv, list_to_binary(Venv)}, {default_pool_size, 1},
                                     {port_env, [{"PYTHONHOME", Venv}]}], Config),
    VenvB = list_to_binary(Venv),
    {ok, VenvB} = py:eval(<<"__import__('sys').prefix">>),
    ok = py_test_lib:stop_app(Started).

%% @doc A PYTHONHOME that is no Python installation fails the start with
%% Python's reason and a word about PYTHONHOME.
pythonhome_failure_says_so(Config) ->
    Dir = ?config(priv_dir, Config),
    ok = application:set_env(?APP, port_env, [{"PYTHONHOME", Dir}]),
    {error, Reason} = application:start(?APP),
    Msg = find_binary(Reason),
    true = py_test_lib:contains(Msg, <<"PYTHONHOME=", (list_to_binary(Dir))/binary>>),
    true = py_test_lib:contains(Msg, <<"venv">>),
    undefined = whereis(erlang_python_sup).

%% @doc Extension modules find Python's C API in py_port, whether it links
%% the static libpython (then it must export its symbols, -Wl,-E) or the
%% shared one: ctypes (an extension module) loads, and ctypes.pythonapi,
%% the symbols the process exports, has Py_GetVersion, which answers the
%% running Python's version.
extension_modules_find_the_c_api(Config) ->
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    ok = py:exec(<<"import ctypes\n"
                   "get_version = ctypes.pythonapi.Py_GetVersion\n"
                   "get_version.restype = ctypes.c_char_p\n">>),
    {ok, Full} = py:eval(<<"get_version().decode()">>),
    {ok, #{python := Short}} = py:version(),
    {0, _} = binary:match(Full, <<Short/binary, " ">>),
    ok = py_test_lib:stop_app(Started).

%% @doc py:version/0 names the libpython in use (the static library linked
%% in, or the shared one loaded) and the standard library, as Python itself
%% sees them; py_port --version names both too.
version_names_libpython_and_stdlib(Config) ->
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    {ok, #{libpython := Lib, stdlib := Stdlib, executable := Exe}} = py:version(),
    {ok, Stdlib} = py:eval(<<"__import__('sysconfig').get_path('stdlib')">>),
    {ok, Exe} = py:eval(<<"__import__('sys').executable">>),
    true = filelib:is_regular(Lib),
    {match, _} = re:run(filename:basename(Lib), "^libpython3\\.[0-9]+"),
    ok = py_test_lib:stop_app(Started),
    PyPort = application:get_env(?APP, port_executable, py_test_lib:py_port_exe()),
    Out = list_to_binary(os:cmd(PyPort ++ " --version")),
    true = py_test_lib:contains(Out, <<"libpython: ", Lib/binary, "\n">>),
    true = py_test_lib:contains(Out, <<"stdlib: ", Stdlib/binary, "\n">>).

%% @doc Without a venv, venv_info says so: venv undefined, prefix the base.
venv_info_without_venv(Config) ->
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    {ok, #{venv := undefined, prefix := P, base_prefix := P, site_packages := Sites}} =
        py:venv_info(),
    {ok, P} = py:eval(<<"__import__('sys').prefix">>),
    true = is_list(Sites),
    ok = py_test_lib:stop_app(Started).

%% @doc The app env preload has run in __main__ when the application has
%% started, once per context of the default pool, and runs again when the
%% port comes back after a kill.
preload_runs_before_first_request_and_after_restart(Config) ->
    Preload = <<"import builtins, os\n"
                "builtins.preload_runs = getattr(builtins, 'preload_runs', 0) + 1\n"
                "def preloaded(x):\n    return x * 2\n"
                "PRELOAD_PID = os.getpid()\n">>,
    Started = py_test_lib:start_app([{preload, Preload}, {default_pool_size, 2},
                                     {default_pool_mode, worker}], Config),
    {ok, 42} = py:call('__main__', preloaded, [21]),
    {ok, 2} = py:eval(<<"preload_runs">>),
    {ok, Pid1} = py:eval(<<"PRELOAD_PID">>),
    ok = py_test_lib:kill_9(Pid1),
    ok = py_test_lib:wait_until(fun() -> case py_test_lib:os_pid() of
                                             {ok, P} -> P =/= Pid1;
                                             _ -> false
                                         end
                                end, 10000),
    {ok, Pid2} = py:eval(<<"PRELOAD_PID">>),
    {ok, Pid2} = py_test_lib:os_pid(),
    {ok, 2} = py:eval(<<"preload_runs">>),
    [{ok, 8} = py:call(C, '__main__', preloaded, [4]) || C <- py_context_router:contexts(default)],
    ok = py_test_lib:stop_app(Started).

%% @doc preload as {file, Path}: the file's code runs; as a string too; a
%% file gone at the start fails it with bad_env.
preload_from_file(Config) ->
    File = filename:join(?config(priv_dir, Config), "preload.py"),
    ok = file:write_file(File, <<"FROM_FILE = 'yes'\n">>),
    Started = py_test_lib:start_app([{preload, {file, File}}, {default_pool_size, 1}], Config),
    {ok, <<"yes">>} = py:eval(<<"FROM_FILE">>),
    ok = py_test_lib:stop_app(Started),
    %% Source as a string works as a binary does.
    Started2 = py_test_lib:start_app([{preload, "AS_STRING = 'ok'"}, {default_pool_size, 1}], Config),
    {ok, <<"ok">>} = py:eval(<<"AS_STRING">>),
    ok = py_test_lib:stop_app(Started2),
    ok = application:set_env(?APP, preload, {file, File ++ ".missing"}),
    {error, {{bad_env, preload, _, _}, _}} = application:start(?APP).

%% @doc A pool's preload option runs in each of its contexts before
%% start_pool returns (it replaces the app env's for that pool), and again
%% after the port restarts; the default pool runs the app env's.
preload_pool_option_every_context(Config) ->
    Started = py_test_lib:start_app([{preload, <<"APP_PRELOAD = 1\n">>},
                                     {default_pool_size, 1}], Config),
    Code = <<"import builtins\n"
             "builtins.pool_runs = getattr(builtins, 'pool_runs', 0) + 1\n"
             "def pooled():\n    return 'pooled'\n">>,
    {ok, Pids} = py_context_router:start_pool(env_pool, 3, worker, #{preload => Code}),
    [{ok, <<"pooled">>} = py:call(C, '__main__', pooled, []) || C <- Pids],
    {ok, 3} = py:eval(env_pool, <<"pool_runs">>),
    {ok, 1} = py:eval(<<"APP_PRELOAD">>),
    [{env_pool, 3, worker, #{preload := Code}}] =
        [S || S <- py_registry:pool_specs(), element(1, S) =:= env_pool],
    {ok, OsPid} = py_test_lib:os_pid(),
    ok = py_test_lib:kill_9(OsPid),
    ok = py_test_lib:wait_until(fun() -> case py_test_lib:os_pid() of
                                             {ok, P} -> P =/= OsPid;
                                             _ -> false
                                         end
                                end, 10000),
    3 = length(py_context_router:contexts(env_pool)),
    {ok, 3} = py:eval(env_pool, <<"pool_runs">>),
    ok = py_context_router:stop_pool(env_pool),
    ok = py_test_lib:stop_app(Started).

%% @doc An owngil pool's preload runs once in each context's own
%% interpreter (Python 3.12+; skipped before, where owngil is refused).
preload_owngil_each_interpreter(Config) ->
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    Code = <<"import builtins\n"
             "builtins.runs = getattr(builtins, 'runs', 0) + 1\n">>,
    case py_context_router:start_pool(og, 2, owngil, #{preload => Code}) of
        {error, {unsupported_mode, owngil, Why}} ->
            ok = py_test_lib:stop_app(Started),
            {skip, binary_to_list(Why)};
        {ok, Pids} ->
            [{ok, 1} = py:eval(C, <<"__import__('builtins').runs">>) || C <- Pids],
            ok = py_context_router:stop_pool(og),
            ok = py_test_lib:stop_app(Started)
    end.

%% @doc A preload that raises: start_pool returns the Python error, no
%% pool runs or is recorded, and the same name starts without it.
preload_that_raises_leaves_no_pool(Config) ->
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    Bad = #{preload => <<"raise ValueError('bad preload')">>},
    [begin
         {error, {preload_failed, {'ValueError', <<"bad preload">>}}} =
             py_context_router:start_pool(bad_pool, 2, Mode, Bad),
         false = py_context_router:pool_started(bad_pool),
         false = lists:keymember(bad_pool, 1, py_registry:pool_specs()),
         {ok, [_, _]} = py_context_router:start_pool(bad_pool, 2, Mode),
         ok = py_context_router:stop_pool(bad_pool)
     end || Mode <- [worker, process]],
    ok = py_test_lib:stop_app(Started).

%% @doc An app env preload that raises fails the application's start with
%% the Python error, for a default pool of worker or process mode; nothing
%% is left running.
preload_that_raises_fails_the_app_start(_Config) ->
    ok = application:set_env(?APP, preload, <<"raise RuntimeError('no start')">>),
    [begin
         ok = application:set_env(?APP, default_pool_mode, Mode),
         {error, {{shutdown, {failed_to_start_child, py_port_owner,
                              {python_start_failed, {default_pool, Why}}}}, _}} =
             application:start(?APP),
         {preload_failed, {'RuntimeError', <<"no start">>}} = Why,
         undefined = whereis(erlang_python_sup),
         undefined = persistent_term:get({py, port}, undefined)
     end || Mode <- [worker, process]],
    ok.

%% @doc A pool's preload that never ends: start_pool returns
%% {preload_failed, timeout} after start_timeout, the preload is
%% interrupted, no pool runs, and the port serves the next start.
preload_that_never_ends_times_out(Config) ->
    Started = py_test_lib:start_app([{default_pool_size, 1}, {start_timeout, 1000}], Config),
    Forever = #{preload => <<"import time\nwhile True:\n    time.sleep(0.01)\n">>},
    T0 = erlang:monotonic_time(millisecond),
    {error, {preload_failed, timeout}} = py_context_router:start_pool(slow, 2, worker, Forever),
    Took = erlang:monotonic_time(millisecond) - T0,
    true = Took >= 1000 andalso Took < 5000,
    false = py_context_router:pool_started(slow),
    {ok, [_]} = py_context_router:start_pool(slow, 1, worker, #{preload => <<"X = 1">>}),
    {ok, 1} = py:eval(slow, <<"X">>),
    ok = py_context_router:stop_pool(slow),
    ok = py_test_lib:stop_app(Started).

%% @doc Bad pool options are refused by name: unknown keys, bad preload
%% values, venv on a pool that is not a process pool.
bad_pool_options(Config) ->
    {Venv, _} = make_venv(Config, "v5"),
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    {error, {bad_option, colour, red}} = py_context_router:start_pool(p, 1, worker, #{colour => red}),
    {error, {bad_option, preload, 42}} = py_context_router:start_pool(p, 1, worker, #{preload => 42}),
    {error, {bad_option, preload, {file, "/nonexistent/x.py"}}} =
        py_context_router:start_pool(p, 1, worker, #{preload => {file, "/nonexistent/x.py"}}),
    {error, {bad_option, venv, Venv}} = py_context_router:start_pool(p, 1, worker, #{venv => Venv}),
    {error, {bad_option, options, [x]}} = py_context_router:start_pool(p, 1, worker, [x]),
    false = py_context_router:pool_started(p),
    ok = py_test_lib:stop_app(Started).

%% @doc Two process pools, each with its own venv, on one node: each
%% imports its own venv's module of the same name and has its prefix; a
%% third whose venv is of another version fails its start_pool alone.
process_pools_with_two_venvs(Config) ->
    {VenvA, SiteA} = make_venv(Config, "pa"),
    {VenvB, SiteB} = make_venv(Config, "pb"),
    ok = file:write_file(filename:join(SiteA, "which_venv.py"), <<"NAME = 'a'\n">>),
    ok = file:write_file(filename:join(SiteB, "which_venv.py"), <<"NAME = 'b'\n">>),
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    {ok, [_, _]} = py_context_router:start_pool(pa, 2, process, #{venv => VenvA}),
    {ok, [_]} = py_context_router:start_pool(pb, 1, process, #{venv => VenvB}),
    [{ok, <<"a">>} = py:eval(pa, <<"__import__('which_venv').NAME">>) || _ <- [1, 2, 3]],
    {ok, <<"b">>} = py:eval(pb, <<"__import__('which_venv').NAME">>),
    PA = list_to_binary(VenvA),
    {ok, PA} = py:eval(pa, <<"__import__('sys').prefix">>),
    {error, {'ModuleNotFoundError', _}} = py:eval(<<"__import__('which_venv').NAME">>),
    ok = py_context_router:stop_pool(pa),
    ok = py_context_router:stop_pool(pb),
    %% A pool's venv of another version: that start_pool fails, saying why.
    {VenvC, _} = make_venv(Config, "pc"),
    Other = other_version(?config(python_version, Config)),
    Cfg = filename:join(VenvC, "pyvenv.cfg"),
    {ok, Text} = file:read_file(Cfg),
    ok = file:write_file(Cfg, re:replace(Text, "(?m)^version = .*$", "version = " ++ Other)),
    {error, {python_start_failed, Msg}} =
        py_context_router:start_pool(pc, 1, process, #{venv => VenvC}),
    true = py_test_lib:contains(Msg, list_to_binary(Other)),
    false = py_context_router:pool_started(pc),
    {ok, 2} = py:eval(<<"1 + 1">>),
    ok = py_test_lib:stop_app(Started).

%% @doc A process pool's preload runs in each member, and again in a
%% member whose OS process was killed and came back.
process_pool_preload_after_member_restart(Config) ->
    Started = py_test_lib:start_app([{default_pool_size, 1}], Config),
    Code = <<"import os\nMEMBER_PID = os.getpid()\n">>,
    {ok, [C1, C2]} = py_context_router:start_pool(pp, 2, process, #{preload => Code}),
    {ok, P1} = py:call(C1, '__main__', 'MEMBER_PID.__int__', []),
    {ok, P2} = py:call(C2, '__main__', 'MEMBER_PID.__int__', []),
    true = P1 =/= P2,
    ok = py_test_lib:kill_9(P1),
    ok = py_test_lib:wait_until(fun() -> member_pids(pp) -- [P2] =/= [P1]
                                             andalso length(member_pids(pp)) =:= 2 end, 10000),
    Pids = lists:sort(member_pids(pp)),
    Pids = lists:sort([X || C <- py_context_router:contexts(pp),
                            {ok, X} <- [py:call(C, '__main__', 'MEMBER_PID.__int__', [])]]),
    ok = py_context_router:stop_pool(pp),
    ok = py_test_lib:stop_app(Started).

%% @doc One build directory configured with one Python, then with another
%% (PYTHON=... make): py_port is rebuilt against the second one whole, its
%% libpython, headers and standard library (CMake's cache kept the first
%% one's library before). Needs a second CPython of another minor version
%% with a shared libpython (pyenv's); skipped without one.
build_follows_a_change_of_python(Config) ->
    First = ?config(python, Config),
    case other_python(?config(python_version, Config)) of
        none ->
            {skip, no_second_python};
        {Second, Version} ->
            Build = filename:join(?config(priv_dir, Config), "build"),
            Src = filename:join([filename:dirname(?FILE), "..", ".."]),
            Out1 = build_port(Src, Build, First),
            true = py_test_lib:contains(Out1, <<"python: ", (?config(python_version, Config))/binary>>),
            Out2 = build_port(Src, Build, Second),
            Prefix = list_to_binary(filename:dirname(filename:dirname(Second))),
            true = py_test_lib:contains(Out2, <<"python: ", Version/binary>>),
            %% The shared library, or the static one in the config directory.
            {match, _} = re:run(Out2, <<"libpython: \\Q", Prefix/binary, "\\E/lib/([^\n]*/)?libpython">>),
            {match, _} = re:run(Out2, <<"stdlib: \\Q", Prefix/binary, "\\E/lib/python">>),
            %% And back: the first Python again, nothing of the second left.
            Out3 = build_port(Src, Build, First),
            nomatch = binary:match(Out3, Prefix)
    end.

%% @doc A minimal release (rebar3 release, offline) of an app that depends
%% on this one calls Python: the release carries priv/py_port as a file of
%% its own, and the port that runs is that one. Takes about 5 s.
release_runs_python(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "tiny"),
    Root = filename:join([filename:dirname(?FILE), "..", ".."]),
    ok = write_tiny_app(Dir, Root),
    Env = "env -u REBAR_PROFILE -u REBAR_CONFIG REBAR_OFFLINE=1 ",
    Built = os:cmd("cd " ++ Dir ++ " && " ++ Env ++ "rebar3 release 2>&1; echo rc=$?"),
    {match, _} = re:run(Built, "rc=0\n$"),
    Rel = filename:join([Dir, "_build", "default", "rel", "tiny"]),
    [Exe] = filelib:wildcard(filename:join(Rel, "lib/erlang_python-*/priv/py_port")),
    {ok, #file_info{type = regular}} = file:read_link_info(Exe),
    Out = filename:join(Dir, "out"),
    Ran = os:cmd("TINY_OUT=" ++ Out ++ " timeout 60 " ++ filename:join(Rel, "bin/tiny")
                 ++ " foreground 2>&1; echo rc=$?"),
    {match, _} = re:run(Ran, "rc=0\n$"),
    {ok, [{ok, 4.0}, {ok, Running}]} = file:consult(Out),
    Running = list_to_binary(Exe).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% The app `tiny' in Dir: it depends on erlang_python (Root, through
%% _checkouts: no package index), calls Python when it starts, writes the
%% results to $TINY_OUT and stops the node.
write_tiny_app(Dir, Root) ->
    ok = filelib:ensure_dir(filename:join([Dir, "src", "x"])),
    ok = filelib:ensure_dir(filename:join([Dir, "_checkouts", "x"])),
    ok = file:make_symlink(filename:absname(Root), filename:join([Dir, "_checkouts", "erlang_python"])),
    ok = file:write_file(filename:join(Dir, "rebar.config"),
                         <<"{deps, [erlang_python]}.\n"
                           "{relx, [{release, {tiny, \"0.1.0\"}, [tiny]}, {dev_mode, false},\n"
                           "        {include_erts, false}, {include_src, false}]}.\n">>),
    ok = file:write_file(filename:join([Dir, "src", "tiny.app.src"]),
                         <<"{application, tiny, [{vsn, \"0.1.0\"}, {mod, {tiny_app, []}},\n"
                           "  {applications, [kernel, stdlib, erlang_python]}, {env, []}]}.\n">>),
    file:write_file(filename:join([Dir, "src", "tiny_app.erl"]),
                    <<"-module(tiny_app).\n-behaviour(application).\n-export([start/2, stop/1]).\n"
                      "start(_, _) ->\n"
                      "    spawn(fun() ->\n"
                      "        R = py:eval(<<\"__import__('math').sqrt(16)\">>),\n"
                      "        E = py:eval(<<\"__import__('os').readlink('/proc/self/exe')\">>),\n"
                      "        ok = file:write_file(os:getenv(\"TINY_OUT\"),\n"
                      "                             io_lib:format(\"~p.~n~p.~n\", [R, E])),\n"
                      "        init:stop()\n"
                      "    end),\n"
                      "    {ok, self()}.\n"
                      "stop(_) -> ok.\n">>).

%% Configures Build for Python and builds py_port there (not installed);
%% its --version output.
build_port(Src, Build, Python) ->
    Cmd = "cmake -S " ++ Src ++ " -B " ++ Build ++ " -DPython3_EXECUTABLE=" ++ Python
        ++ " -DPY_PORT_TESTS=OFF >/dev/null 2>&1 && cmake --build " ++ Build
        ++ " --target py_port >/dev/null 2>&1 && " ++ filename:join(Build, "py_port")
        ++ " --version; echo rc=$?",
    Out = list_to_binary(os:cmd(Cmd)),
    {match, _} = re:run(Out, "rc=0\n$"),
    Out.

%% A pyenv CPython of another minor version than Version, with a shared
%% libpython: {Path, <<"3.M.p">>}, or none.
other_python(Version) ->
    Root = os:getenv("PYENV_ROOT", filename:join(os:getenv("HOME", "/root"), ".pyenv")),
    Found = [{P, list_to_binary(V)}
             || V <- lists:reverse(lists:sort(filelib:wildcard("3.1[0-9]*.*", filename:join(Root, "versions")))),
                P <- filelib:wildcard(filename:join([Root, "versions", V, "bin", "python3.1[0-9]"])),
                filelib:wildcard(filename:join([Root, "versions", V, "lib", "libpython3*.so"])) =/= [],
                binary:part(list_to_binary(V), 0, 4) =/= binary:part(Version, 0, 4)],
    case Found of
        [First | _] -> First;
        [] -> none
    end.

%% A venv Name made by the Python py_port runs, and its site-packages.
make_venv(Config, Name) ->
    Venv = filename:join(?config(priv_dir, Config), Name),
    Py = ?config(python, Config),
    "" = os:cmd(Py ++ " -m venv --without-pip " ++ Venv ++ " 2>&1"),
    [Site] = filelib:wildcard(filename:join(Venv, "lib/python3*/site-packages")),
    {Venv, Site}.

%% A directory outside the venv with a module, named by a .pth file in
%% Site (as an editable install does).
editable(Config, Site) ->
    Dir = filename:join(?config(priv_dir, Config), "editable_src"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, "editmod.py"), <<"WHERE = 'editable'\n">>),
    ok = file:write_file(filename:join(Site, "__editable__.editmod.pth"), [Dir, "\n"]),
    Dir.

%% A top-level module (a .py file) or package of the base installation's
%% site-packages, with a plain name; the venv's module of that name must
%% win over it.
system_module(Sites) ->
    Names = [filename:rootname(hd(filename:split(F)))
             || D <- Sites, F <- lists:sort(filelib:wildcard("*.py", binary_to_list(D))
                                            ++ filelib:wildcard("*/__init__.py", binary_to_list(D))),
                re:run(F, "^[a-z][a-z0-9_]*(\\.py|/__init__\\.py)$") =/= nomatch],
    case Names of
        [N | _] -> N;
        [] -> ct:fail({no_module_in_system_site_packages, Sites})
    end.

%% A version of another minor than "3.M.p".
other_version(<<"3.9", _/binary>>) -> "3.10.13";
other_version(_) -> "3.9.18".

%% The first binary in a term (the start_failed message in an error).
find_binary(B) when is_binary(B) -> B;
find_binary(T) when is_tuple(T) -> find_binary(tuple_to_list(T));
find_binary([H | T]) ->
    case find_binary(H) of
        undefined -> find_binary(T);
        B -> B
    end;
find_binary(_) -> undefined.

%% The OS pids of a process pool's members, from its stats.
member_pids(Pool) ->
    case py_context_router:pool_stats(Pool) of
        {ok, #{processes := Ps}} -> [P || #{os_pid := P} <- Ps];
        _ -> []
    end.
