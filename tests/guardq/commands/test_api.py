import pytest

from guardq.cli import main


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_api_refuses_a_bad_port_naming_it(port, capsys):
    with pytest.raises(SystemExit):
        main(["api", "--port", port])
    assert "argument --port" in capsys.readouterr().err
