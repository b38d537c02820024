import pytest

pytestmark = pytest.mark.django_db


def test_the_upload_form_needs_the_add_permission(client, sign_in, curated_small):
    content = client.get("/training-data/").content.decode()
    assert 'id="upload-form"' not in content
    assert "Sign in</a> with an account allowed to add training images" in content
    sign_in()
    assert "may not add training images" in client.get("/training-data/").content.decode()


def test_a_curator_gets_the_form_with_csrf_and_each_known_class_once(
    client, sign_in, curated_small
):
    sign_in("add_trainingimage")
    content = client.get("/training-data/").content.decode()
    start = content.index('<form id="upload-form"')
    form = content[start : content.index("</form>", start)]
    assert 'name="csrfmiddlewaretoken"' in form
    # 280 images of 10 classes: the list holds each class once, not once per image.
    assert content.count('<option value="cat">') == 1
    assert (
        "Known classes: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck."
        in content
    )


def test_the_images_themselves_only_for_those_who_may_see_them(client, sign_in):
    content = client.get("/training-data/").content.decode()
    assert 'id="recent-images"' not in content and 'id="images-private"' in content
    sign_in("view_trainingimage")
    content = client.get("/training-data/").content.decode()
    assert 'id="recent-images"' in content and 'id="images-private"' not in content
