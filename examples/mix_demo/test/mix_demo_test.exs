defmodule MixDemoTest do
  use ExUnit.Case

  test "calls Python" do
    assert MixDemo.sqrt(16) == {:ok, 4.0}
    assert MixDemo.title("hello world") == {:ok, "Hello World"}
  end

  test "nil is None, both ways (none_atom: nil)" do
    assert :py.eval("None") == {:ok, nil}
    assert :py.eval("x is None", %{x: nil}) == {:ok, true}
    assert MixDemo.stats([]) == {:ok, %{"n" => 0, "mean" => nil}}
    assert MixDemo.stats([1, 2, 3]) == {:ok, %{"n" => 3, "mean" => 2.0}}
  end

  test "a charlist is a list of integers, a string is a str" do
    assert :py.eval("type(x).__name__", %{x: 'abc'}) == {:ok, "list"}
    assert :py.eval("x", %{x: 'abc'}) == {:ok, 'abc'}
    assert :py.eval("type(x).__name__", %{x: "abc"}) == {:ok, "str"}
  end

  test "Python errors are error tuples" do
    assert {:error, {:ValueError, "math domain error"}} = MixDemo.sqrt(-1)
  end
end
