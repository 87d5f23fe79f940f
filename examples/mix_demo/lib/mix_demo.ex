defmodule MixDemo do
  @moduledoc """
  Calls Python through erlang_python's `:py` module.
  """

  @doc "The square root of `x`, by Python's math.sqrt."
  def sqrt(x), do: :py.call(:math, :sqrt, [x])

  @doc "Python's `str.title()` of an Elixir string (a binary)."
  def title(text) when is_binary(text), do: :py.call(:builtins, :"str.title", [text])

  @doc "A dict made in Python: its keys come back as binaries."
  def stats(numbers) do
    :py.eval("{'n': len(xs), 'mean': sum(xs) / len(xs) if xs else None}", %{xs: numbers})
  end
end
