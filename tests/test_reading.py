"""The measures of tests/reading.py on texts whose answers are counted by hand (issue 30, item 2)."""

from reading import MAX_SHARED_WORDS, covered, paragraphs, repeated_paragraphs, shared_words, words


def test_words_keep_numbers_whole_and_drop_punctuation():
    assert words("Pretraining on n = 95,118 simulations lowers the error by 22% [18%, 26%].") == [
        "pretraining", "on", "n", "95,118", "simulations", "lowers", "the", "error", "by", "22", "18", "26"]
    assert words("the law's C_at_bound") == ["the", "law's", "c", "at", "bound"]


def test_a_run_of_eight_shared_words_counts_in_full_and_seven_not_at_all():
    common = "one two three four five six seven eight"
    a = f"alpha beta {common} gamma"
    b = f"delta {common} epsilon zeta"
    assert covered(words(a), words(b)) == 8 and shared_words(a, b) == 8
    seven = "one two three four five six seven"
    assert shared_words(f"alpha {seven} beta", f"gamma {seven} delta") == 0
    # a longer run: every word of it (12), not the number of shingles (5)
    twelve = " ".join(f"w{i}" for i in range(12))
    assert shared_words(f"x {twelve} y", f"{twelve} z") == 12
    # a number that differs breaks a shared sentence: 2 runs of 4 words, nothing shared
    assert shared_words("the error at n = 1,000 is lower than", "the error at n = 3,000 is lower than") == 0


def test_shared_words_is_the_larger_side():
    run = " ".join(f"w{i}" for i in range(10))
    a = f"{run} a {run}"  # the run twice on one side: 20 of its words are covered
    b = f"{run} b"  # once on the other: 10
    assert covered(words(a), words(b)) == 20 and covered(words(b), words(a)) == 10 and shared_words(a, b) == 20
    assert shared_words("", run) == 0 and MAX_SHARED_WORDS == 150


def test_repeated_paragraphs_of_25_words_across_pages_and_within_one():
    long = " ".join(f"word{i}" for i in range(25))
    short = " ".join(f"word{i}" for i in range(24))
    pages = {"intro": [long, short, "other"], "summary": [" " + long.replace(" ", "\n  ", 3), short],
             "cases/chi": ["unique " + long], "cases/band_gap": ["twice " * 25, "twice " * 25]}
    rep = repeated_paragraphs(pages)
    assert rep == {long: ["intro", "summary"], ("twice " * 25).strip(): ["cases/band_gap", "cases/band_gap"]}


def test_paragraphs_of_built_html_leave_out_code_tables_and_navigation():
    html = """<html><body><nav><p>Contents of the book and more navigation words here</p></nav>
      <article><h1>Title<a class="headerlink">#</a></h1><p>First  paragraph
      over lines.</p><div class="cell_input"><p>page.figure()</p></div>
      <table><tr><td><p>a cell</p></td></tr></table><ul><li>a bullet</li><li><p>a bullet paragraph</p></li></ul>
      </article></body></html>"""
    assert paragraphs(html) == ["First paragraph over lines.", "a bullet paragraph", "a bullet"]


def test_status_codes_are_found_in_code_font_after_status_and_as_identifiers():
    from reading import status_codes

    page = lambda body: f"<html><body><nav>C_at_bound</nav><article>{body}</article></body></html>"  # noqa: E731
    assert status_codes(page("<p>The law is fine and the status table says ok.</p>")) == []
    assert status_codes(page('<p>status: <a href="method.html#status-table">no floor resolved</a></p>')) == []
    assert status_codes(page("<p>status <code>ok</code> and <code>misfit</code></p>")) == ["ok", "misfit"]
    assert status_codes(page("<td>C_at_bound</td><td>alpha_at_bound, p = 0.3</td>")) == ["C_at_bound", "alpha_at_bound"]
    assert status_codes(page("<p>fits whose status is ok are solid</p>")) == ["ok"]
    assert status_codes(page('<div class="cell_input">page.status()  # constant_preferred</div>')) == []


def test_long_decimals_and_plain_math_are_found():
    from reading import long_decimals, plain_math, significant_digits

    assert [significant_digits(x) for x in ("0.0776", "21.99", "1.893e+04", "3683.000000", "0.100", "2")] == [
        3, 4, 4, 10, 3, 1]
    text = ("n_pool 3683.000000, alpha = 0.002872, CI [0, 1.893e+04], AIC 21.99; fine: 0.0776 eV/atom, 94,777 "
            "samples, 22%, 0.100, doi 10.1038/s41586, $R(n) = 0.123456$")
    assert long_decimals(text) == ["3683.000000", "0.002872", "1.893e+04", "21.99"]
    assert plain_math("R(n) = D n^-alpha + C and chi^2 and g/cm^3") == ["R(n) = D n^", "chi^2", "g/cm^3"]
    assert plain_math("$R(n) = D\\,n^{-\\alpha} + C$, χ² and g/cm³") == []
