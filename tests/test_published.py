"""sveval.reporting.published: the table as the Golden Gemini README prints it, and release-name look-up."""

from sveval.reporting.published import lookup, paper_depth, published_table


def test_golden_gemini_table_transcribed():
    table = published_table("golden-gemini")
    rows = {row.model: row for row in table.rows}
    assert rows["DF-ResNet60"].results["vox1_H_cleaned"] == (1.799, 0.166)
    assert rows["DF-ResNet114"].result("vox1_O_cleaned") == (0.686, 0.067)
    assert rows["DF-ResNet183"].result("vox1_E_cleaned") == (0.806, 0.090)
    assert rows["DF-ResNet183 LM"].result("vox1_O_cleaned") == (0.569, 0.045)
    assert [row.params_millions for row in table.rows] == [4.05, 6.53, 9.20, 9.20]
    assert all((row.method, row.top_n, row.cohort) == ("asnorm", 300, "vox2_dev") for row in table.rows)


def test_lookup_by_any_name():
    assert lookup("Gemini_df_resnet56").model == "DF-ResNet60"
    assert (
        lookup("0615-Gemini_df_resnet110-emb256-fbank80-num_frms200-aug0.6-epoch165").model == "DF-ResNet114"
    )
    assert lookup("Gemini_DF_ResNet183").model == "DF-ResNet183"
    assert lookup("0621-Gemini_df_resnet179-emb256-fbank80-epoch165-LM").model == "DF-ResNet183 LM"
    assert lookup("DF-ResNet183 LM").large_margin
    assert lookup("ResNet34") is None and lookup("DF-ResNet237") is None
    assert paper_depth("Gemini_df_resnet179") == 183 and paper_depth("fbank80") is None
