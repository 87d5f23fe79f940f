%% @doc Python's stdout and stderr, logged line by line.
%%
%% DESIGN: py_port sends what Python writes on stdout and stderr as events
%% `{output, stdout | stderr, [Line]}' addressed to this registered process
%% (docs/protocol.md); the port owner forwards them undecoded, so a flood
%% of output costs the request path nothing. Each line is logged with
%% `logger' in the domain `[python]': stdout at `notice', stderr at
%% `warning', with the stream in the metadata. Both pass logger's default
%% primary level (`notice'). The owner forwards a batch
%% only while the batches this process has not handled yet hold less than
%% `max_output_backlog' bytes (app env, default 64 MB), counted by their
%% size in an atomic ({@link py_flow}); beyond that it drops and counts
%% them, and sends `{py_output, dropped}' on the first drop: queued behind
%% the backlog, it has this process log the count once the backlog before
%% it is handled. Output never grows the node's memory without bound.
%%
%% Python's `logging' records come the same way, one event
%% `{log, Levelno, Name, Module, Line, Message}' each (port/pylog.h), and
%% are logged at the level their number maps to (50 and above `critical',
%% 40 `error', 30 `warning', 20 `info', below `debug'), in the domain
%% `[python]', with the metadata `python_logger' (the Python logger's
%% name), `python_module' and `python_line' (where the record was made).
%%
%% OTP's `default' handler logs only events without a domain or in
%% `[otp, sasl | _]': the application adds the filter `python' to it
%% ({@link show_in_default_handler/0}, app env `log_to_default_handler'),
%% so that the output shows in a plain node, an escript, `rebar3 shell'
%% and a release without any logger configuration of the user's.
-module(py_output).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

%% API
-export([start_link/0]).
-export([show_in_default_handler/0]).
-export([hide_from_default_handler/0]).

%% gen_server callbacks
-export([init/1]).
-export([handle_call/3]).
-export([handle_cast/2]).
-export([handle_info/2]).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the process, registered as `py_output'.
-spec start_link() -> gen_server:start_ret().
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Adds the handler filter `python' (domain `[python]' and below:
%% log) to logger's `default' handler, if there is one and it has no
%% filter of that name yet. `added' when this call added it, else
%% `unchanged' (no default handler, or a `python' filter already there:
%% the user's own, left as it is).
-spec show_in_default_handler() -> added | unchanged.
show_in_default_handler() ->
    Filter = {fun logger_filters:domain/2, {log, super, [python]}},
    case logger:add_handler_filter(default, python, Filter) of
        ok -> added;
        {error, _} -> unchanged
    end.

%% @doc Removes the handler filter `python' from the `default' handler
%% (its events are then dropped again). Always `ok'.
-spec hide_from_default_handler() -> ok.
hide_from_default_handler() ->
    _ = logger:remove_handler_filter(default, python),
    ok.

%%% ==========================================================================
%%% gen_server callbacks
%%% ==========================================================================

%% @private
init([]) ->
    ok = py_flow:output_started(),
    {ok, #{}}.

%% @private
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
handle_cast(_Request, State) ->
    {noreply, State}.

%% @private
%% An output or log event from the port (its payload undecoded).
handle_info({py_output, Payload}, State) when is_binary(Payload) ->
    py_flow:output_handled(byte_size(Payload)),
    log(binary_to_term(Payload)),
    {noreply, State};
%% The owner dropped batches: the backlog before this notice is handled.
handle_info({py_output, dropped}, State) ->
    case py_flow:take_output_dropped() of
        0 ->
            ok;
        Dropped ->
            {_, Max} = py_flow:output_backlog(),
            ?LOG_WARNING("py_output: ~b batches of Python output dropped (backlog above ~b bytes)",
                         [Dropped, Max], #{domain => [python]})
    end,
    {noreply, State};
%% Anything else is a stray message.
handle_info(_Info, State) ->
    {noreply, State}.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

log({output, Stream, Lines}) ->
    Level = case Stream of
                stdout -> notice;
                stderr -> warning
            end,
    [logger:log(Level, "~ts", [Line], #{domain => [python], stream => Stream})
     || Line <- Lines],
    ok;
log({log, Levelno, Name, Module, Line, Message}) ->
    logger:log(level(Levelno), "~ts", [Message],
               #{domain => [python], python_logger => Name,
                 python_module => Module, python_line => Line}).

%% The logger level of a Python level number.
level(N) when N >= 50 -> critical;
level(N) when N >= 40 -> error;
level(N) when N >= 30 -> warning;
level(N) when N >= 20 -> info;
level(_) -> debug.
